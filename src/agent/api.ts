/**
 * The agent's API, typed once. Every call of the control socket (the CLI on the
 * host: AGENT_ROUTES) and of the management API (other machines and the dashboard:
 * MANAGEMENT_ROUTES) has a request schema and a response schema here. The servers
 * parse each body with its schema before anything runs (a bad body changes nothing
 * and is a usage error, exit code 2); the clients get their answers typed, and
 * checked, from the same table. A host's status is defined here too, once.
 */
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import type { BackupReason } from '../host/backup-reasons.js';
import type { DeploymentKind, DeploymentOutcome, StepOutcome } from '../host/ledger.js';
import type { MaintenanceMode } from '../runtime/proxy.js';
import type { ServiceState } from '../runtime/supervisor.js';
import type { ChannelPointer } from '../store/channels.js';
import type { UpdateEvent as PipelineUpdateEvent } from '../update/run-update.js';
import type { ChannelPollerState } from './channel-poller.js';
import { WireErrorSchema } from './wire.js';
import { testedRunSchema } from '../store/channels.js';
import { DataAgeSchema } from '../host/data-age-schema.js';
import { TlsViewSchema } from './tls-view-schema.js';

// ---- pieces shared by several answers -------------------------------------------------

export const ReleaseRefSchema = z.object({ id: z.string(), version: z.string().nullable() });
export type ReleaseRef = z.infer<typeof ReleaseRefSchema>;

export const BackupReasonSchema = z.enum(['pre-deploy', 'post-deploy', 'manual', 'scheduled', 'pre-restore'], {
  error: (issue) => `unknown backup reason ${JSON.stringify(issue.input)}: one of pre-deploy, post-deploy, manual, scheduled, pre-restore`,
});

const BackupItemSchema = z.object({
  name: z.string(),
  kind: z.enum(['database', 'folder']),
  engine: z.string(),
  file: z.string(),
  size: z.number(),
  sha256: z.string(),
});

/** A backup in the host's catalog (the ledger's record), in the ledger's field order. */
export const BackupRecordSchema = z.object({
  id: z.string(),
  environment: z.string(),
  release: ReleaseRefSchema.nullable(),
  reason: BackupReasonSchema,
  createdAt: z.string(),
  size: z.number(),
  sha256: z.string(),
  verifiedAt: z.string().nullable(),
  durationMs: z.number(),
  deploymentId: z.number().nullable(),
  items: z.array(BackupItemSchema),
  offsite: z.object({ key: z.string(), keyId: z.string(), at: z.string() }).optional(),
});
export type BackupRecordView = z.infer<typeof BackupRecordSchema>;

/** What an update streams while it runs: the pipeline's steps and the lines of its work. */
export const UpdateEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('step-begin'), name: z.string() }),
  z.object({ type: z.literal('step-end'), name: z.string(), outcome: z.enum(['done', 'skipped', 'failed']), ms: z.number(), detail: z.string().optional() }),
  z.object({ type: z.literal('undo'), name: z.string(), outcome: z.enum(['undone', 'failed']), detail: z.string().optional() }),
  z.object({ type: z.literal('progress'), line: z.string() }),
]);
export type UpdateEvent = z.infer<typeof UpdateEventSchema>;

/**
 * The last line of a streamed update. `deploymentId` is absent when the update was
 * refused before anything was recorded (nothing changed).
 */
export const UpdateResultSchema = z.object({
  ok: z.boolean(),
  deploymentId: z.number().optional(),
  version: z.string().optional(),
  releaseId: z.string().optional(),
  error: WireErrorSchema.optional(),
  undoFailures: z.array(z.string()).optional(),
});
export type UpdateResult = z.infer<typeof UpdateResultSchema>;

// ---- a host's status ------------------------------------------------------------------

const LockViewSchema = z.object({ holder: z.string(), pid: z.number(), since: z.string(), reason: z.string(), stale: z.boolean() });

/** Maintenance as the proxy holds it; `off` only in the maintenance call's answer (status says null). */
const MaintenanceOnSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('refuse'), retryAfterSeconds: z.number().optional(), writesOnly: z.boolean().optional() }),
  z.object({ mode: z.literal('hold'), holdMs: z.number(), writesOnly: z.boolean().optional(), afterHold: z.enum(['forward', 'refuse']).optional() }),
]);
const MaintenanceModeSchema = z.union([z.object({ mode: z.literal('off') }), MaintenanceOnSchema]);

const SlotNameSchema = z.enum(['blue', 'green']);
const ServiceStateSchema = z.enum(['starting', 'running', 'backoff', 'stopping', 'stopped', 'failed']);

const SlotViewSchema = z.object({
  role: z.enum(['active', 'standby']),
  name: SlotNameSchema,
  releaseId: z.string(),
  version: z.string(),
  port: z.number(),
  startedAt: z.string(),
  services: z.array(z.object({ name: z.string(), port: z.number(), pid: z.number().nullable(), state: ServiceStateSchema, restarts: z.number() })),
  standbySince: z.string().optional(),
  standbyUntil: z.string().optional(),
});
export type SlotView = z.infer<typeof SlotViewSchema>;


/**
 * What `slipway status <env> --json` prints for a local host, what the agent answers
 * on GET /v1/status, and the core of what the management API and the dashboard show.
 * The first seven fields are CONTRACT.md's. Without an agent, `agent` is null, `slots`
 * empty, and standby, recovery and backups are absent.
 */

export const AgentStatusSchema = z.object({
  environment: z.string(),
  /** where the app answers now */
  url: z.string(),
  current: ReleaseRefSchema.nullable(),
  previous: ReleaseRefSchema.nullable(),
  health: z.enum(['healthy', 'unhealthy', 'none', 'agent not running']),
  lock: LockViewSchema.nullable(),
  maintenance: MaintenanceOnSchema.nullable(),
  agent: z.object({ pid: z.number(), startedAt: z.string(), uptimeSeconds: z.number(), cli: z.string().nullable() }).nullable(),
  /** the active slot first; a standby slot after it runs, unrouted, until its window ends */
  slots: z.array(SlotViewSchema),
  standby: z.object({ id: z.string(), version: z.string(), slot: SlotNameSchema, since: z.string(), until: z.string() }).nullable().optional(),
  /** what the agent's start found and finished of an update cut short */
  recovery: z
    .object({ deploymentId: z.number(), outcome: z.enum(['rolled-forward', 'rolled-back']), releaseId: z.string().nullable(), message: z.string() })
    .nullable()
    .optional(),
  backups: z.object({ schedule: z.string().nullable(), nextScheduled: z.string().nullable(), offsite: z.string().nullable() }).optional(),
  /** how old the environment's data is: its newest data copy's source backup, else its newest backup (absent from an older agent) */
  dataAge: DataAgeSchema.nullable().optional(),
  /** `tls:` of the environment: each certificate, its issuer, expiry and last renewal error (absent without tls, or from an older agent) */
  tls: TlsViewSchema.optional(),
});
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

/** `slipway status --json` of a local environment: the host's status; in pull mode every host's last report too (null: unreadable). */
export const StatusReportSchema = AgentStatusSchema.extend({
  hosts: z
    .array(
      z.object({
        host: z.string(),
        current: ReleaseRefSchema.nullable(),
        health: z.string(),
        reportedAt: z.string(),
        failedRelease: z.object({ id: z.string(), version: z.string().nullable(), error: z.string(), at: z.string() }).nullable(),
      }),
    )
    .nullable()
    .optional(),
});
export type StatusReport = z.infer<typeof StatusReportSchema>;

/** The fields of CONTRACT.md's `slipway status --json`, which every slipway prints (what a fleet reads from each host). */
export const ContractStatusSchema = AgentStatusSchema.pick({ environment: true, url: true, current: true, previous: true, health: true, lock: true, maintenance: true });
export type ContractStatus = z.infer<typeof ContractStatusSchema>;

const ChannelPointerSchema = z.object({
  environment: z.string(),
  releaseId: z.string(),
  version: z.string(),
  who: z.string(),
  when: z.string(),
  why: z.string(),
  counter: z.number().optional(),
  expires: z.string().optional(),
  signature: z.object({ alg: z.literal('ed25519'), keyId: z.string(), signature: z.string() }).optional(),
});
const FailedReleaseSchema = z.object({ id: z.string(), version: z.string().nullable(), error: z.string(), at: z.string() });



/** The management API's status: the host's, plus what pull mode knows (null when pull mode is off). */
export const ManagementStatusSchema = AgentStatusSchema.extend({
  channel: ChannelPointerSchema.nullable(),
  failedRelease: FailedReleaseSchema.nullable(),
  /** also how often the channel was read, and how many reads were "not modified" */
  pull: z
    .object({
      lastPointer: ChannelPointerSchema.nullable(),
      lastPollAt: z.string().nullable(),
      lastError: z.string().nullable(),
      polls: z.number(),
      unchanged: z.number(),
      failedRelease: FailedReleaseSchema.nullable(),
      applying: z.boolean(),
      /** why the channel pointer in the store was refused (unsigned, another environment, a lower counter, expired); null when accepted */
      refusedPointer: z.string().nullable().optional(),
      /** the staging run the pointer's release was tested in (promote records it); absent from an older agent */
      tested: testedRunSchema.nullable().optional(),
    })
    .nullable(),
});
export type ManagementStatus = z.infer<typeof ManagementStatusSchema>;

/** One deployment as the management API lists it: `slipway history --json`'s fields, plus who, why and the error. */
export const HistoryEntrySchema = z.object({
  id: z.number(),
  kind: z.enum(['deploy', 'rollback', 'rollback-with-data', 'restore', 'recovery']),
  from: z.string().nullable(),
  to: z.string().nullable(),
  outcome: z.enum(['succeeded', 'failed', 'rolled-back']).nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  who: z.string(),
  reason: z.string(),
  error: z.string().nullable(),
  steps: z.array(z.object({ name: z.string(), outcome: z.enum(['done', 'skipped', 'failed', 'undone']).nullable(), ms: z.number().nullable() })),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

// ---- requests -------------------------------------------------------------------------

/** A call that takes no parameters: no body, or `{}`. */
export const NoBodySchema = z.strictObject({});

/** Who asked and why: recorded with the deployment. */
const asker = { who: z.string().optional(), reason: z.string().optional() };

export const DeployRequestSchema = z.strictObject({
  releaseId: z.string().min(1),
  /** the version the CLI resolved in the store, for the record before the release is on disk */
  version: z.string().optional(),
  ...asker,
  allowOlder: z.boolean().optional(),
  /** a fleet rollout's backup of this host, taken before any host changed: the update's backup step checks it and uses it as its own */
  rolloutBackupId: z.string().min(1).optional(),
});

/** `to`: a version or id of a release on the host (absent or empty: the previous one). */
export const RollbackRequestSchema = z.strictObject({ to: z.string().optional(), withData: z.boolean().optional(), ...asker });

export const RestoreRequestSchema = z.strictObject({ backupId: z.string().min(1), dataOnly: z.boolean().optional(), ...asker });

/** `slipway data copy`: another environment's backup, from its folder, restored into this one's current release. */
export const DataImportRequestSchema = z.strictObject({ backupId: z.string().min(1), backupDir: z.string().min(1), scrubFile: z.string().optional(), ...asker });

export const BackupRequestSchema = z.strictObject({ reason: BackupReasonSchema.optional() });
export const BackupIdRequestSchema = z.strictObject({ id: z.string().min(1) });
export const DryRunRequestSchema = z.strictObject({ dryRun: z.boolean().optional() });
export const MaintenanceRequestSchema = z.strictObject({ mode: z.enum(['on', 'off']), holdSeconds: z.number().positive().max(3600).optional() });
export const PruneRequestSchema = z.strictObject({ keep: z.number().int().min(0).optional(), dryRun: z.boolean().optional() });

/** The management API's rollback: `to` a version or id (absent, null or empty: the previous release). */
export const ManagementRollbackRequestSchema = z.strictObject({ to: z.string().nullable().optional(), reason: z.string().optional() });

// ---- answers --------------------------------------------------------------------------

const OffsiteOutcomeSchema = z
  .union([z.object({ ok: z.literal(true), key: z.string(), keyId: z.string(), store: z.string() }), z.object({ ok: z.literal(false), error: z.string() })])
  .nullable();

/** `slipway backup`: the new backup, and whether it was copied off-site (null: off-site copies are off). */
export const BackupTakenSchema = BackupRecordSchema.extend({ offsite: OffsiteOutcomeSchema });
export const BackupFetchedSchema = BackupRecordSchema.extend({ fetched: z.boolean() });
export const OffsitePassSchema = z.object({ copied: z.array(z.string()), failed: z.object({ id: z.string().nullable(), error: WireErrorSchema }).nullable(), left: z.number() });
export const VerifyReportSchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  checkedAt: z.string(),
  problems: z.array(z.string()),
  items: z.array(z.object({ name: z.string(), engine: z.string(), ok: z.boolean(), problems: z.array(z.string()) })),
});
export const BackupPruneResultSchema = z.object({
  pruned: z.array(BackupRecordSchema),
  kept: z.array(z.object({ backup: BackupRecordSchema, reasons: z.array(z.enum(['last', 'daily', 'weekly', 'newest-verified', 'protected', 'future', 'undated'])) })),
  leftovers: z.array(z.string()),
});
export const ReleasePruneResultSchema = z.object({ removed: z.array(z.object({ id: z.string(), version: z.string() })), keep: z.number() });

/** What the management API answers when it refuses a call: the error, and for a 401 the reason (management-auth.ts's). */
export const ManagementRefusalSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }).optional(),
  reason: z.string().optional(),
});

export const ManagementRollbackReplySchema = z.object({ ok: z.boolean(), version: z.string().optional(), releaseId: z.string(), error: z.string().optional() });
export type ManagementRollbackReply = z.infer<typeof ManagementRollbackReplySchema>;

// ---- the routes -----------------------------------------------------------------------

export interface RouteSpec {
  method: 'GET' | 'POST';
  path: string;
  /** json: one answer; stream: NDJSON update events, then `{ "type": "result", … }` */
  kind: 'json' | 'stream';
  request: z.ZodType;
  response: z.ZodType;
}

/** The control socket's calls (src/agent/routes.ts answers them, control-client.ts makes them). */
export const AGENT_ROUTES = {
  status: { method: 'GET', path: '/v1/status', kind: 'json', request: NoBodySchema, response: AgentStatusSchema },
  deploy: { method: 'POST', path: '/v1/deploy', kind: 'stream', request: DeployRequestSchema, response: UpdateResultSchema },
  rollback: { method: 'POST', path: '/v1/rollback', kind: 'stream', request: RollbackRequestSchema, response: UpdateResultSchema },
  restore: { method: 'POST', path: '/v1/restore', kind: 'stream', request: RestoreRequestSchema, response: UpdateResultSchema },
  dataImport: { method: 'POST', path: '/v1/data/import', kind: 'stream', request: DataImportRequestSchema, response: UpdateResultSchema },
  backup: { method: 'POST', path: '/v1/backup', kind: 'json', request: BackupRequestSchema, response: BackupTakenSchema },
  backupFetch: { method: 'POST', path: '/v1/backup/fetch', kind: 'json', request: BackupIdRequestSchema, response: BackupFetchedSchema },
  backupOffsite: { method: 'POST', path: '/v1/backup/offsite', kind: 'json', request: NoBodySchema, response: OffsitePassSchema },
  backupVerify: { method: 'POST', path: '/v1/backup/verify', kind: 'json', request: BackupIdRequestSchema, response: VerifyReportSchema },
  backupPrune: { method: 'POST', path: '/v1/backup/prune', kind: 'json', request: DryRunRequestSchema, response: BackupPruneResultSchema },
  maintenance: { method: 'POST', path: '/v1/maintenance', kind: 'json', request: MaintenanceRequestSchema, response: z.object({ maintenance: MaintenanceModeSchema }) },
  prune: { method: 'POST', path: '/v1/prune', kind: 'json', request: PruneRequestSchema, response: ReleasePruneResultSchema },
  stop: { method: 'POST', path: '/v1/stop', kind: 'json', request: NoBodySchema, response: z.object({ stopping: z.literal(true) }) },
} as const satisfies Record<string, RouteSpec>;

/** The management API's calls (management-server.ts); every one signed (management-auth.ts). */
export const MANAGEMENT_ROUTES = {
  notify: { method: 'POST', path: '/v1/notify', kind: 'json', request: NoBodySchema, response: z.object({ checking: z.boolean() }) },
  status: { method: 'GET', path: '/v1/status', kind: 'json', request: NoBodySchema, response: ManagementStatusSchema },
  rollback: { method: 'POST', path: '/v1/rollback', kind: 'json', request: ManagementRollbackRequestSchema, response: ManagementRollbackReplySchema },
  history: { method: 'GET', path: '/v1/history', kind: 'json', request: NoBodySchema, response: z.array(HistoryEntrySchema) },
  /** `?lines=N` (1…1000, default 100) */
  logs: { method: 'GET', path: '/v1/logs', kind: 'json', request: NoBodySchema, response: z.object({ lines: z.array(z.string()) }) },
  backups: { method: 'GET', path: '/v1/backups', kind: 'json', request: NoBodySchema, response: z.array(BackupRecordSchema) },
} as const satisfies Record<string, RouteSpec>;

export type AgentRoutes = typeof AGENT_ROUTES;
export type AgentRouteName = keyof AgentRoutes;
export type JsonRouteName = { [K in AgentRouteName]: AgentRoutes[K]['kind'] extends 'json' ? K : never }[AgentRouteName];
export type StreamRouteName = Exclude<AgentRouteName, JsonRouteName>;
/** what a client sends, per call */
export type AgentRequests = { [K in AgentRouteName]: z.input<AgentRoutes[K]['request']> };
/** what a handler is given, per call (the body its schema accepted) */
export type AgentParsedRequests = { [K in AgentRouteName]: z.output<AgentRoutes[K]['request']> };
/** what a handler returns and a client gets, per call */
export type AgentResponses = { [K in AgentRouteName]: z.output<AgentRoutes[K]['response']> };
export type AgentRequest<K extends AgentRouteName> = AgentRequests[K];
export type AgentResponse<K extends AgentRouteName> = AgentResponses[K];

/** What answers the control socket: one function per call, given the parsed body (and, for updates, where their events go). */
export type AgentHandlers = { [K in AgentRouteName]: (body: AgentParsedRequests[K], emit: (event: UpdateEvent) => void) => Promise<AgentResponses[K]> };

/** A schema seen only as what it parses to. */
export interface Parser<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: z.ZodError };
}

/**
 * AGENT_ROUTES seen call by call through the maps above, so that code generic in the
 * call (the server binding a handler, the client checking an answer) keeps a call's
 * request, answer and handler together.
 */
export const AGENT_CALLS: {
  [K in AgentRouteName]: { method: AgentRoutes[K]['method']; path: AgentRoutes[K]['path']; kind: AgentRoutes[K]['kind']; request: Parser<AgentParsedRequests[K]>; response: Parser<AgentResponses[K]> };
} = AGENT_ROUTES;

export const AGENT_ROUTE_NAMES = Object.keys(AGENT_ROUTES) as AgentRouteName[];

/** `POST /v1/deploy`: how a call is named in messages and in the servers' route tables. */
export function callName(spec: { method: string; path: string }): string {
  return `${spec.method} ${spec.path}`;
}

// ---- checking bodies ------------------------------------------------------------------

/** One line per problem: where in the body, and what is wrong there. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
}

/** A request body its schema refuses: a usage error (exit code 2), nothing was done. */
export function badRequest(call: string, error: z.ZodError, code = 'AGENT_BAD_REQUEST'): SlipwayError {
  const problems = describeIssues(error);
  return new SlipwayError(code, `the agent refused ${call}: ${problems[0] ?? 'the request body is malformed'}; nothing was changed`, {
    exitCode: 2,
    details: problems.slice(1),
    hint: 'the CLI and the agent may be different versions: restart the agent (`slipway agent --stop`, then run the command again)',
  });
}

/** An answer that does not match its schema: the agent is another version, or broken. */
export function badAnswer(call: string, error: z.ZodError): SlipwayError {
  return new SlipwayError('AGENT_BAD_ANSWER', `the agent's answer to ${call} is not what this slipway expects: ${describeIssues(error)[0] ?? 'malformed'}`, {
    hint: 'the CLI and the agent may be different versions: restart the agent (`slipway agent --stop`, then run the command again)',
  });
}

// ---- the schemas agree with the types the agent's parts already have ----------------
// (compile-time only: a change on either side that breaks the wire fails the build here)

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Fits<A, B> = [A] extends [B] ? true : false;
const agreements: [
  Same<z.infer<typeof BackupReasonSchema>, BackupReason>,
  Same<HistoryEntry['kind'], DeploymentKind>,
  Same<NonNullable<HistoryEntry['outcome']>, DeploymentOutcome>,
  Same<NonNullable<HistoryEntry['steps'][number]['outcome']>, StepOutcome>,
  Same<z.infer<typeof ServiceStateSchema>, ServiceState>,
  Same<z.infer<typeof MaintenanceModeSchema>, MaintenanceMode>,
  Fits<PipelineUpdateEvent, UpdateEvent>,
  Fits<ChannelPollerState, NonNullable<ManagementStatus['pull']>>,
  Same<ChannelPointer, z.infer<typeof ChannelPointerSchema>>,
] = [true, true, true, true, true, true, true, true, true];
void agreements;
