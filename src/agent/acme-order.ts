/**
 * One certificate order over ACME (RFC 8555) with the maintained `acme-client` library:
 * the account (made once, its key kept by the caller), an HTTP-01 challenge per name answered
 * by the proxy's plain listener, then the certificate. Loaded lazily: most commands never need it.
 */
import https from 'node:https';
import { SlipwayError } from '../errors.js';
import type { AcmeChallenges } from '../runtime/acme-challenges.js';

export interface AcmeOrderOptions {
  directoryUrl: string;
  /** PEM private key of the ACME account */
  accountKey: string;
  /** the account's URL at this directory, once known: no registration request is made then */
  accountUrl?: string;
  email?: string;
  /** the names of the certificate, the first one its common name */
  names: string[];
  /** where the proxy finds the key authorizations the CA asks for */
  challenges: AcmeChallenges;
  /** extra CA certificates to trust for the directory itself (a private ACME server, tests) */
  directoryCa?: string;
  /** told the account's URL as soon as it is known, before the order: kept even when the order fails */
  onAccount?(url: string): Promise<void>;
}

export interface IssuedCertificate {
  /** PEM chain, leaf first */
  cert: string;
  /** PEM private key of the certificate */
  key: string;
  /** the ACME account's URL, to keep for the next order */
  accountUrl: string;
}

type AcmeModule = typeof import('acme-client');
let loaded: Promise<AcmeModule> | undefined;

async function acmeClient(): Promise<AcmeModule> {
  loaded ??= import('acme-client').then((m) => ((m as { default?: AcmeModule }).default ?? m) as AcmeModule);
  return loaded;
}

/** A new PEM private key (ECDSA P-256) for an ACME account or a certificate. */
export async function createPrivateKey(): Promise<string> {
  const acme = await acmeClient();
  return (await acme.crypto.createPrivateEcdsaKey()).toString();
}

/** Orders a certificate for `names`; throws ACME_ORDER_FAILED saying which step and what the CA answered. */
export async function orderCertificate(o: AcmeOrderOptions): Promise<IssuedCertificate> {
  const acme = await acmeClient();
  if (o.directoryCa !== undefined) acme.axios.defaults.httpsAgent = new https.Agent({ ca: o.directoryCa });
  // With the account's URL known, no registration is sent again (some CAs refuse the empty update that re-registering makes).
  const client = new acme.Client({ directoryUrl: o.directoryUrl, accountKey: o.accountKey, ...(o.accountUrl === undefined ? {} : { accountUrl: o.accountUrl }), backoffAttempts: 10, backoffMin: 1000, backoffMax: 10_000 });
  const key = await acme.crypto.createPrivateEcdsaKey();
  const [, csr] = await acme.crypto.createCsr({ commonName: o.names[0]!, altNames: o.names }, key);
  const tokens: string[] = [];
  try {
    if (o.accountUrl === undefined) await o.onAccount?.(await findOrRegisterAccount(client, o.email));
    const cert = await client.auto({
      csr,
      ...(o.email === undefined ? {} : { email: o.email }),
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      // The CA's own check is the one that counts; a check from this host would fail behind NAT or split DNS.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        tokens.push(challenge.token);
        o.challenges.add(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        o.challenges.remove(challenge.token);
      },
    });
    return { cert, key: key.toString(), accountUrl: client.getAccountUrl() };
  } catch (error) {
    throw new SlipwayError('ACME_ORDER_FAILED', `the certificate authority at ${o.directoryUrl} did not issue a certificate for ${o.names.join(', ')}: ${describeAcmeError(error)}`, {
      hint: `check that ${o.names.join(', ')} point${o.names.length === 1 ? 's' : ''} at this host and that port 80 reaches slipway's proxy (tls.http_port)`,
      cause: error,
    });
  } finally {
    for (const token of tokens) o.challenges.remove(token);
  }
}

/**
 * The account of this key: found when the key was registered before (its URL was not kept), else
 * registered now. Registering a known key again makes acme-client send an account update with
 * nothing to change, which some CAs refuse: every later order would fail the same way.
 */
async function findOrRegisterAccount(client: InstanceType<AcmeModule['Client']>, email: string | undefined): Promise<string> {
  try {
    // RFC 8555 §7.3.1: onlyReturnExisting finds the account without creating one.
    await client.createAccount({ onlyReturnExisting: true });
  } catch {
    await client.createAccount({ termsOfServiceAgreed: true, ...(email === undefined ? {} : { contact: [`mailto:${email}`] }) });
  }
  return client.getAccountUrl();
}

/** The CA's problem document when there is one (RFC 8555 §6.7), else the error's message, on one line. */
function describeAcmeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 500);
}
