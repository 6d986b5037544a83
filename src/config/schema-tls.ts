/**
 * `environments.<env>.tls`: HTTPS in slipway's own proxy. Either certificates obtained
 * automatically over ACME for `domains` (Let's Encrypt unless `acme_directory` names
 * another RFC 8555 directory), or a certificate the user manages (`cert_file`, `key_file`).
 */
import { z } from 'zod';
import { bool, expectedOnWrongType, integer, text } from './schema-fields.js';

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
export const DEFAULT_TLS_PORT = 443;
export const DEFAULT_TLS_HTTP_PORT = 80;

const TLS_EXPECTED = 'a mapping like { domains: [example.com], email: ops@example.com }, or { cert_file: /etc/ssl/site.pem, key_file: /etc/ssl/site.key }';

/** A DNS name a certificate can be issued for over HTTP-01: labels of letters, digits and -, at least two of them. */
const DOMAIN_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const domainName = z.string({ error: 'expected a domain name like example.com' }).superRefine((value, ctx) => {
  if (value.startsWith('*.')) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is a wildcard: slipway proves a domain over HTTP (port 80), which cannot get a wildcard certificate; list each name (www.example.com, app.example.com)` });
  } else if (value !== value.toLowerCase()) {
    ctx.addIssue({ code: 'custom', message: `expected a domain name in lowercase, like ${value.toLowerCase()}` });
  } else if (!DOMAIN_PATTERN.test(value)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a domain name: expected one like example.com or app.example.com (no scheme, port or path)` });
  }
});

export const tlsSchema = z
  .strictObject(
    {
      domains: z
        .array(domainName, { error: 'expected a list of domain names, like [example.com, www.example.com]' })
        .min(1, { error: 'expected at least one domain name, like [example.com]' })
        .optional(),
      email: z
        .string({ error: 'expected an email address for the certificate authority\'s notices, like ops@example.com' })
        .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { error: 'expected an email address for the certificate authority\'s notices, like ops@example.com' })
        .optional(),
      acme_directory: z
        .string({ error: `expected the URL of an ACME directory, like ${LETS_ENCRYPT_DIRECTORY}` })
        .regex(/^https:\/\/[^\s/]+(\/\S*)?$/, { error: `expected the https:// URL of an ACME directory, like ${LETS_ENCRYPT_DIRECTORY}` })
        .optional(),
      cert_file: text('the path of a PEM certificate file (the chain, leaf first)').optional(),
      key_file: text('the path of its PEM private key file (mode 0600)').optional(),
      port: integer({ min: 1, max: 65535, what: 'the HTTPS port number' }).default(DEFAULT_TLS_PORT),
      http_port: integer({ min: 1, max: 65535, what: 'the plain HTTP port number (certificate challenges, redirects)' }).default(DEFAULT_TLS_HTTP_PORT),
      redirect_http: bool().default(true),
    },
    { error: expectedOnWrongType(TLS_EXPECTED) },
  )
  .superRefine((tls, ctx) => {
    const automatic = tls.domains !== undefined;
    const managed = tls.cert_file !== undefined || tls.key_file !== undefined;
    if (automatic && managed) {
      ctx.addIssue({ code: 'custom', path: [tls.cert_file !== undefined ? 'cert_file' : 'key_file'], message: 'use either `domains` (certificates obtained automatically) or `cert_file` and `key_file` (a certificate you manage), not both' });
    } else if (!automatic && !managed) {
      ctx.addIssue({ code: 'custom', message: `missing \`domains\` or \`cert_file\`/\`key_file\`: expected ${TLS_EXPECTED}` });
    } else if (managed) {
      if (tls.cert_file === undefined) ctx.addIssue({ code: 'custom', message: 'missing required key `cert_file`: the certificate that goes with key_file' });
      if (tls.key_file === undefined) ctx.addIssue({ code: 'custom', message: 'missing required key `key_file`: the private key of cert_file' });
      for (const key of ['email', 'acme_directory'] as const) {
        if (tls[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `\`${key}\` is only for certificates obtained automatically (with \`domains\`)` });
      }
    }
    if (tls.port === tls.http_port) {
      ctx.addIssue({ code: 'custom', path: ['http_port'], message: `http_port ${tls.http_port} is also the HTTPS port: expected another port, like ${DEFAULT_TLS_HTTP_PORT}` });
    }
  });

export type TlsFile = z.infer<typeof tlsSchema>;

/**
 * `hosts.<name>.domains`: the names this host gets certificates for, instead of the environment's
 * `tls.domains` (empty: none, the host serves plain HTTP only).
 */
export const hostDomainsSchema = z.array(domainName, { error: 'expected a list of the domain names that point at this host, like [app1.example.com]' });

/**
 * With several hosts, each host's agent orders its own certificates (HTTP-01, proved on port 80 of
 * the host the name resolves to). A name shared by several hosts (round-robin DNS) sends the CA's
 * check to any of them, and every host but the one that asked fails it: the orders fail at random,
 * and the failures count against the CA's limits. So each name must be on one host only: with more
 * than one host, each names its own `domains`.
 */
export function severalHostsTlsProblems(env: { tls?: { domains?: string[] | undefined } | undefined; hosts?: Record<string, { domains?: string[] | undefined }> | undefined }): { path: (string | number)[]; message: string }[] {
  const hosts = Object.entries(env.hosts ?? {});
  const problems: { path: (string | number)[]; message: string }[] = [];
  const withOwn = hosts.filter(([, host]) => host.domains !== undefined);
  if (env.tls?.domains === undefined) {
    for (const [name] of withOwn) problems.push({ path: ['hosts', name, 'domains'], message: 'a host\'s `domains` are certificates obtained automatically: the environment needs `tls: { domains: [...] }` (its email, directory and ports are shared)' });
    return problems;
  }
  if (hosts.length < 2) return problems;
  const without = hosts.filter(([, host]) => host.domains === undefined).map(([name]) => name);
  if (without.length > 0) {
    problems.push({
      path: ['tls', 'domains'],
      message: `with ${hosts.length} hosts, each host's agent would order its own certificate for ${env.tls.domains.join(', ')}, and the certificate authority's check (over port 80 of whichever host the name points at) fails on all but one; give each host the names that point at it alone: hosts.<name>.domains (missing on ${without.join(', ')}; [] for a host without HTTPS), or put one host in front`,
    });
  }
  const owner = new Map<string, string>();
  for (const [name, host] of withOwn) {
    host.domains!.forEach((domain, index) => {
      const other = owner.get(domain);
      if (other !== undefined) problems.push({ path: ['hosts', name, 'domains', index], message: `${domain} is also a domain of host ${other}: each name must point at one host, which alone gets its certificate` });
      else owner.set(domain, name);
    });
  }
  return problems;
}
