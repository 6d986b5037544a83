import { z } from 'zod';
import type { TlsView } from './certificate-report.js';

/** `tls:` of an environment: each certificate the proxy serves (certificate-report.ts's TlsView). */
export const TlsViewSchema = z.object({
  port: z.number(),
  httpPort: z.number(),
  redirectHttp: z.boolean(),
  certificates: z.array(
    z.object({
      domain: z.string(),
      source: z.enum(['acme', 'files']),
      file: z.string(),
      state: z.enum(['valid', 'renewal-due', 'expired', 'missing', 'unreadable']),
      issuer: z.string().nullable(),
      names: z.array(z.string()),
      notBefore: z.string().nullable(),
      notAfter: z.string().nullable(),
      renewAfter: z.string().nullable(),
      lastRenewalAt: z.string().nullable(),
      lastError: z.object({ at: z.string(), message: z.string() }).nullable(),
      nextAttemptAt: z.string().nullable(),
    }),
  ),
});

// The schema and the type the status is built with must stay the same thing.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agreement: Same<TlsView, z.infer<typeof TlsViewSchema>> = true;
void agreement;
