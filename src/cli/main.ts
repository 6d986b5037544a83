import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { addCommonOptions, runner } from './command-runner.js';

export { hostArgv } from './command-runner.js';

/**
 * The command line: every command, its arguments and options, and `--help`. Each command
 * lives in its own module, run by command-runner.ts when it is called.
 */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('slipway')
    .description('Keeps a self-hosted app up to date on its own servers, safely: immutable releases, verified backups, zero-downtime switches and one-command rollback of code and data.')
    .version(packageVersion(), '-V, --version', 'print the version of slipway')
    .option('-c, --config <path>', 'path of the project file (default: ./slipway.yml)')
    .addOption(new Option('--no-color', 'plain output (also NO_COLOR=1)').hideHelp())
    .showSuggestionAfterError(true)
    .enablePositionalOptions();

  program
    .command('init')
    .description('write a commented slipway.yml for the app in this folder (or from a compose file: --from-compose)')
    .option('-y, --yes', 'write it without asking questions')
    .option('--from-compose <compose.yml>', 'map a compose file: built services become container services, databases and caches accessories; secrets go to the host env file, never to slipway.yml')
    .option('--force', 'overwrite an existing slipway.yml')
    .action(runner(() => import('./init.js')));

  program
    .command('build')
    .description('build an immutable release from a git commit and put it in the store')
    .option('--ref <git-ref>', 'commit, tag or branch to build', 'HEAD')
    .option('--version <stamp>', 'version of the release (default: the tag at the ref, or the short commit)')
    .option('--allow-dirty', 'build the work tree as it is (the version is marked -dirty)')
    .option('--store <path>', 'local store folder to put the release in (default: $SLIPWAY_HOME/store)')
    .option('--key <path>', 'ed25519 private key to sign with (default: signing.key in slipway.yml)')
    .option('--json', 'print { id, version, commit } as JSON')
    .action(runner(() => import('./build.js')));

  program
    .command('releases')
    .description('list the releases in the store')
    .option('--store <path>', 'local store folder (default: $SLIPWAY_HOME/store)')
    .option('--json', 'print JSON')
    .action(runner(() => import('./releases.js')));

  const storeCommand = program.command('store').description('keep the release store in shape: `store prune`, `store migrate`');
  storeCommand
    .command('prune')
    .description('remove old releases from the store (keeping the newest --keep and every release a channel points at), then the content packs no kept release needs')
    .option('--env <env>', "the environment whose store to prune (its local folder or S3 bucket)")
    .option('--store <path>', 'local store folder (default: $SLIPWAY_HOME/store)')
    .option('--keep <n>', 'how many of the newest releases to keep', '10')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .action(runner(() => import('./store-prune.js')));
  storeCommand
    .command('migrate')
    .description('move releases stored as one archive (as slipway stored them before content objects) to content objects, so that new releases share their contents')
    .option('--env <env>', "the environment whose store to move over (its local folder or S3 bucket)")
    .option('--store <path>', 'local store folder (default: $SLIPWAY_HOME/store)')
    .option('--dry-run', 'say what would move, change nothing')
    .option('--json', 'print JSON')
    .action(runner(() => import('./store-migrate.js')));

  const release = program.command('release').description('inspect one release');
  release
    .command('show')
    .description('show a release: version, commit, notes, files')
    .argument('<version-or-id>', 'version, release id or id prefix')
    .option('--store <path>', 'local store folder (default: $SLIPWAY_HOME/store)')
    .option('--json', 'print the manifest and store info as JSON')
    .action(runner(() => import('./release-show.js')));
  release
    .command('receive')
    .description("put a release into this environment's store, from a stream on stdin or pulled from --from-store (slipway runs this on hosts)")
    .argument('[env]', 'environment from slipway.yml')
    .requiredOption('--id <id>', 'the release id')
    .option('--from-store <json>', 'an s3 store to pull it from')
    .option('--check', 'only say whether the store has it (exit 1 when missing)')
    .option('--json', 'print JSON')
    .action(runner(() => import('./release-receive.js')));

  const keys = program.command('keys').description('manage release signing keys');
  keys
    .command('generate')
    .description('make an ed25519 key pair for signing releases')
    .option('--name <name>', 'file name of the pair', 'slipway')
    .option('--dir <dir>', 'where to write it (default: $SLIPWAY_HOME/keys)')
    .option('--json', 'print { keyId, privateKey, publicKey } paths as JSON')
    .action(runner(() => import('./keys-generate.js')));

  program
    .command('plan')
    .description('what an update would do before it does it: release notes, config changes, migrations, downtime, disk, blockers')
    .argument('<env>', 'environment from slipway.yml')
    .option('--version <v>', 'version or release id to plan for (default: the newest release in the store)')
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', '\nExit status: 0 when the update can go ahead, 1 when the plan has blockers (deploy would refuse), 2 on a usage or configuration error.')
    .action(runner(() => import('./plan.js')));

  program
    .command('config')
    .description("the app's config on a host: show (values and where they come from, secrets as ***), set KEY=VALUE, set KEY (the value from stdin: typed unseen, or piped), unset KEY")
    .argument('<env>', 'environment from slipway.yml')
    .argument('[action]', 'show, set or unset', 'show')
    .argument('[assignment]', 'KEY=VALUE or KEY (value on stdin) for set, KEY for unset')
    .option('--version <v>', 'show with the config schema of this release (default: the current one)')
    .option('--json', 'print JSON')
    .action(runner(() => import('./config.js')));

  program
    .command('doctor')
    .description('check this machine and host: disk, Node, database tools, permissions, clock, port, agent, store')
    .argument('[env]', 'environment from slipway.yml (optional when there is only one)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit status: 0 when every check passes (warnings allowed), 1 when any check fails.')
    .action(runner(() => import('./doctor.js')));

  program
    .command('deploy')
    .description('deploy a release: fetch, check, back up, migrate, start beside the old one, switch, watch')
    .argument('<env>', 'environment from slipway.yml')
    .option('--version <v>', 'version or release id to deploy (default: the newest release in the store)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--allow-older', 'deploy a release that is not newer than the current one as a normal update (backup, its migrations); to undo an update instead: rollback --to <v>')
    .option('--reason <text>', 'why, for the record')
    .addOption(new Option('--no-plan', 'do not print the plan (a fleet rollout asks this of each host)').hideHelp())
    .addOption(new Option('--use-backup <id>', "the backup a fleet rollout took of this host first: the update's backup step uses it instead of taking another, when it fits").hideHelp())
    .option('--parallel <n>', 'on several hosts: how many independent hosts update at once (default 1)')
    .option('--json', 'on several hosts: print the rollout summary as JSON')
    .action(runner(() => import('./deploy.js')));

  program
    .command('rollback')
    .description('go back to the previous release (or --to a version still on the host) through the same switch')
    .argument('<env>', 'environment from slipway.yml')
    .option('--to <version>', 'version or release id on the host')
    .option('--with-data', 'also restore the data from the backup taken before the update being undone')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--reason <text>', 'why, for the record')
    .action(runner(() => import('./rollback.js')));

  const backup = program.command('backup').description('take, verify, prune, copy off-site and fetch backups: `backup <env>`, `backup verify <env> <id>`, `backup prune <env>`, `backup copy <env>`, `backup fetch <env> <id>`');
  backup
    .command('create', { isDefault: true })
    .description('take a verified backup of every database and folder of an environment (the default)')
    .argument('<env>', 'environment from slipway.yml')
    .option('--reason <reason>', 'manual, scheduled, pre-deploy, post-deploy, pre-restore', 'manual')
    .option('--json', 'print { id, release, items } as JSON')
    .action(runner(() => import('./backup-create.js')));
  backup
    .command('verify')
    .description('restore a backup into a scratch database/folder and compare it with what was recorded (exit 1 if not)')
    .argument('<env>', 'environment from slipway.yml')
    .argument('<backup-id>', 'backup id from `slipway backups`')
    .option('--json', 'print JSON')
    .action(runner(() => import('./backup-verify.js')));
  backup
    .command('fetch')
    .description('download a backup\'s encrypted off-site copy from the environment\'s store onto the host (then `slipway restore` it)')
    .argument('<env>', 'environment from slipway.yml')
    .argument('<backup-id>', 'backup id from `slipway backups <env> --offsite`')
    .option('--json', 'print JSON')
    .action(runner(() => import('./backup-fetch.js')));
  backup
    .command('copy')
    .description('copy every backup without an off-site copy to the environment\'s store, encrypted (the agent does this after each backup; exit 1 if one fails)')
    .argument('<env>', 'environment from slipway.yml')
    .option('--json', 'print JSON')
    .action(runner(() => import('./backup-offsite.js')));
  backup
    .command('prune')
    .description('remove backups the retention policy no longer keeps (never the newest verified one)')
    .argument('<env>', 'environment from slipway.yml')
    .option('--dry-run', 'only say what would be removed')
    .option('--json', 'print JSON')
    .action(runner(() => import('./backup-prune.js')));

  program
    .command('backups')
    .description('the backups of an environment, newest first')
    .argument('<env>', 'environment from slipway.yml')
    .option('--offsite', 'list the encrypted copies in the environment\'s store instead')
    .option('--json', 'print JSON')
    .action(runner(() => import('./backups.js')));

  program
    .command('restore')
    .description('restore a backup: its data and the release it belongs to (a backup of the data as it is now is taken first)')
    .argument('<env>', 'environment from slipway.yml')
    .argument('<backup-id>', 'backup id from `slipway backups`')
    .option('--data-only', 'only when the current release is the backup\'s release')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(runner(() => import('./restore.js')));

  const data = program.command('data').description('data between environments');
  data
    .command('copy')
    .description('copy one environment\'s data into another (e.g. production → staging), then run a scrub SQL file there')
    .argument('<from-env>', 'source environment')
    .argument('<to-env>', 'target environment (its data is replaced)')
    .option('--scrub <file.sql>', 'SQL run against every database of the target after the copy (required unless --no-scrub)')
    .option('--no-scrub', 'copy without scrubbing (only for data that holds nothing personal)')
    .option('--backup <id>', 'reuse this backup of the source instead of taking a new one')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(runner(() => import('./data-copy.js')));
  data
    .command('copies')
    .description('the data copies into an environment, newest first: from where, which backup and how old, scrubbed with what, how it ended')
    .argument('[env]', 'environment from slipway.yml (the target of the copies)')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(runner(() => import('./data-copies.js')));

  program
    .command('status')
    .description('what an environment serves now: current and previous release, health, lock, maintenance; without an environment in a project of several, one line for each (version, health, data age, last change)')
    .argument('[env]', 'environment from slipway.yml (absent: every environment)')
    .option('--json', 'print JSON')
    .action(runner(() => import('./status-dispatch.js')));

  program
    .command('history')
    .description('deployments and rollbacks of an environment, newest first, with their steps')
    .argument('[env]', 'environment from slipway.yml')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(runner(() => import('./history.js')));

  program
    .command('verify')
    .description('check every file and link of the current release against its manifest (exit 1 on any difference); files that look as they did at install (inode, size, time) are not read again unless --full')
    .argument('[env]', 'environment from slipway.yml')
    .option('--full', 're-hash every file, even those that look untouched')
    .option('--json', 'print JSON')
    .action(runner(() => import('./verify.js')));

  program
    .command('prune')
    .description('remove old releases from the host (never the current or previous one)')
    .argument('[env]', 'environment from slipway.yml')
    .option('--keep <n>', 'how many releases to keep (default: retention.releases)')
    .option('--dry-run', 'only say what would be removed')
    .option('--json', 'print JSON')
    .action(runner(() => import('./prune.js')));

  program
    .command('maintenance')
    .description('maintenance mode in the proxy: answer 503 with Retry-After, or hold requests up to --hold seconds')
    .argument('<on|off>', 'on or off')
    .option('--env <env>', 'environment from slipway.yml')
    .option('--hold <seconds>', 'hold requests up to this long instead of answering 503')
    .action(runner(() => import('./maintenance.js')));

  program
    .command('logs')
    .description("the app's output (the serving slot)")
    .argument('[env]', 'environment from slipway.yml')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'how many lines', '50')
    .option('--service <name>', 'which service (default: the first)')
    .action(runner(() => import('./logs.js')));

  const accessory = program
    .command('accessory')
    .description("long-lived containers beside the app (slipway.yml `accessories`: a database, a cache): `accessory start|stop|status|logs <env> [name]`, `accessory upgrade <env> <name>`; a deploy never touches them");
  const accessoryArgs = (command: Command) =>
    command.argument('<env>', 'environment from slipway.yml').argument('[name]', 'which accessory (default: every one)');
  accessoryArgs(accessory.command('start'))
    .description('create the container and its volumes the first time (secrets from the host env file), else start the same container again; waits until its port answers')
    .option('--json', 'print what was started as JSON')
    .action(runner(async () => ({ default: (await import('./accessory.js')).startCommand })));
  accessoryArgs(accessory.command('stop'))
    .description("stop the container (its stop signal, then a kill after --timeout); the container and its data are kept for the next start")
    .option('--timeout <seconds>', 'how long it may take to shut down before it is killed', '30')
    .option('--json', 'print what was stopped as JSON')
    .action(runner(async () => ({ default: (await import('./accessory.js')).stopCommand })));
  accessoryArgs(accessory.command('status'))
    .description('running, stopped or missing; image, container id, start time, whether its port answers')
    .option('--json', 'print JSON')
    .action(runner(async () => ({ default: (await import('./accessory.js')).statusCommand })));
  accessoryArgs(accessory.command('logs'))
    .description("the accessory's output (name it when there are several)")
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'how many lines', '50')
    .action(runner(async () => ({ default: (await import('./accessory.js')).logsCommand })));
  accessory
    .command('upgrade')
    .description("change an accessory's image to the one slipway.yml names now: a verified backup of its databases first, a new container on the same volumes, back to the old one if it does not come up")
    .argument('<env>', 'environment from slipway.yml')
    .argument('<name>', 'which accessory')
    .option('--timeout <seconds>', 'how long the new container may take to answer on its port', '60')
    .option('--yes', 'go ahead without a question')
    .option('--json', 'print what changed as JSON')
    .action(runner(async () => ({ default: (await import('./accessory.js')).upgradeCommand })));

  program
    .command('lock')
    .description('the host lock: `lock status`, `lock release --force`')
    .argument('<status|release>', 'what to do')
    .option('--env <env>', 'environment from slipway.yml')
    .option('--force', 'with release: remove a lock you do not hold')
    .option('--json', 'print JSON (status)')
    .action(runner(() => import('./lock.js')));

  program
    .command('exec')
    .description("run a command in the release an environment serves, with the app's config, on each host (or --host): `slipway exec production -- node scripts/report.js`")
    .argument('<env>', 'environment from slipway.yml')
    .argument('<command...>', 'the command and its arguments, after --')
    .action(runner(() => import('./exec.js')));

  program
    .command('setup')
    .description('install or update slipway on the hosts of an environment over SSH: ships this CLI, writes the host\'s project file and a systemd unit where systemd runs, then runs `slipway doctor` there')
    .argument('<env>', 'environment from slipway.yml')
    .option('--json', 'print what was done on each host as JSON')
    .action(runner(() => import('./setup.js')));

  program
    .command('agent')
    .description('run the host agent in the foreground until SIGTERM/SIGINT (the CLI starts one in the background when needed)')
    .option('--env <env>', 'environment from slipway.yml (optional when there is only one)')
    .option('--stop', 'stop the running agent of the environment (the app stops with it)')
    .action(runner(() => import('./agent.js')));

  program
    .command('publish')
    .description("build the release of a commit unless the environment's store has it, and point the environment's channel at it (agents in pull mode follow)")
    .argument('<env>', 'environment from slipway.yml')
    .option('--ref <git-ref>', 'commit, tag or branch to publish', 'HEAD')
    .option('--version <v>', 'version of the release (default: the tag at the ref, or the short commit)')
    .option('--reason <text>', 'why, for the channel history')
    .option('--key <path>', 'ed25519 private key to sign the release and the channel pointer with (default: signing.key in slipway.yml)')
    .option('--expires <duration>', 'the channel pointer expires after this long (e.g. 30m, 12h, 7d): agents then refuse it')
    .option('--json', 'print { id, version, commit, environment, built, moved, previous } as JSON')
    .action(runner(() => import('./publish.js')));

  program
    .command('notify')
    .description("tell an environment's agent to check its channel now (a request signed with the management secret)")
    .argument('<env>', 'environment from slipway.yml')
    .option('--url <url>', "the agent's management address (default: from management.bind/port and the host)")
    .option('--json', "print the agent's answer as JSON")
    .action(runner(() => import('./notify.js')));

  program
    .command('promote')
    .description('point <to-env> at the exact release <from-env> runs, once it ran healthy there')
    .argument('<from-env>', 'environment the release runs in')
    .argument('<to-env>', 'environment whose channel moves')
    .option('--force', 'promote even if the release never ran healthy in <from-env> (recorded in the channel history)')
    .option('--reason <text>', 'why, for the channel history')
    .option('--key <path>', 'ed25519 private key that signs the channel pointer (default: signing.key in slipway.yml)')
    .option('--expires <duration>', 'the channel pointer expires after this long (e.g. 30m, 12h, 7d): agents then refuse it')
    .option('--json', 'print the new pointer as JSON')
    .action(runner(() => import('./promote.js')));

  const channel = program.command('channel').description("an environment's channel: the release its agents should run, and every move of it");
  channel
    .command('history')
    .description('every move of the channel pointer, newest first')
    .argument('<env>', 'environment from slipway.yml')
    .option('--json', 'print JSON (newest first)')
    .action(runner(async () => ({ default: (await import('./channel.js')).channelHistoryCommand })));
  channel
    .command('set')
    .description('point the channel at a release (an older one is a rollback); agents follow at their next poll')
    .argument('<env>', 'environment from slipway.yml')
    .argument('<version>', 'version, release id or id prefix')
    .option('--reason <text>', 'why, for the channel history')
    .option('--key <path>', 'ed25519 private key that signs the channel pointer (default: signing.key in slipway.yml)')
    .option('--expires <duration>', 'the channel pointer expires after this long (e.g. 30m, 12h, 7d): agents then refuse it')
    .option('--json', 'print the new pointer as JSON')
    .action(runner(async () => ({ default: (await import('./channel.js')).channelSetCommand })));

  addCommonOptions(program);
  return program;
}

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const sub of command.commands) forEachCommand(sub, visit);
}

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--no-color')) process.env.NO_COLOR = '1';
  const program = buildProgram();
  // Subcommands copy these settings only when created, so each one needs them set:
  // otherwise a parse error in `release show` or `deploy` exits 1 on its own.
  forEachCommand(program, (command) => {
    command.exitOverride();
    command.configureOutput({ writeErr: (text) => process.stderr.write(text) });
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, `help [cmd]` and --version exit 0; every other parse failure is a usage error.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    throw error;
  }
}
