/** What went wrong with ssh, read from what it printed, as a SlipwayError that says what to do next. */
import { SlipwayError } from '../errors.js';
import { manualSshCommand, type SshSettings } from './ssh-settings.js';
import { describeTarget, knownHostsName, type SshTarget } from './ssh-target.js';

/** The last non-empty line of what ssh printed. */
export function lastLine(text: string): string {
  const lines = text.replaceAll('\r', '').split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}

/**
 * What went wrong, read from what ssh printed when it failed to connect
 * (exit code 255), as a SlipwayError that says what to do next.
 */
export function classifySshFailure(o: { target: SshTarget; settings?: SshSettings; stderr: string }): SlipwayError {
  const settings = o.settings ?? {};
  const where = describeTarget(o.target);
  const said = lastLine(o.stderr);
  const details = [`host: ${where}`];
  if (said) details.push(`ssh said: ${said}`);
  const manual = manualSshCommand(o.target, settings);
  const has = (pattern: RegExp) => pattern.test(o.stderr);

  if (has(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|REVOKED HOST KEY|POSSIBLE DNS SPOOFING/i)) {
    const offending = /^Offending .* key in .*$/m.exec(o.stderr.replaceAll('\r', ''));
    if (offending) details.splice(1, 0, offending[0].trim());
    return new SlipwayError('HOST_KEY_MISMATCH', `The host key of ${where} does not match the one in known_hosts; refusing to connect.`, {
      hint: `This may be an attack or a reinstalled server. Check the server's fingerprint out of band (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if the change is expected, remove the old key with \`ssh-keygen -R '${knownHostsName(o.target)}'\` and connect once by hand (\`${manual}\`) to accept the new one.`,
      details,
    });
  }
  if (has(/No \S+ host key is known for|Host key verification failed|authenticity of host .* can't be established/i)) {
    const port = o.target.port === undefined ? '' : ` -p ${o.target.port}`;
    return new SlipwayError('HOST_KEY_UNKNOWN', `${where} is not in known_hosts, and slipway does not accept unknown host keys.`, {
      hint: `Fetch its key with \`ssh-keyscan${port} ${o.target.host}\`, compare the fingerprint (ssh-keygen -lf) with the server's own, then add the line to known_hosts; or connect once by hand (\`${manual}\`) and confirm the fingerprint.`,
      details,
    });
  }
  if (has(/Permission denied \(|Too many authentication failures|No more authentication methods/i)) {
    return new SlipwayError('SSH_AUTH_FAILED', `${where} refused our SSH key.`, {
      hint: `Add your public key to ~/.ssh/authorized_keys of ${o.target.user ?? 'the remote user'} there, and make sure ssh can use the private key (ssh-add -l, or IdentityFile in your ssh config); \`${manual} true\` must work without a password.`,
      details,
    });
  }
  if (has(/Bad configuration option|bad configuration options|Can't open user config file|Bad owner or permissions|Unsupported option|keyword .* extra arguments/i)) {
    return new SlipwayError('SSH_CONFIG_INVALID', `ssh could not read its configuration for ${where}.`, {
      hint: settings.configFile === undefined ? 'Fix the line ssh names in ~/.ssh/config.' : `Fix the line ssh names in ${settings.configFile} (set by SLIPWAY_SSH_CONFIG).`,
      details,
      exitCode: 2,
    });
  }
  if (
    has(
      /Connection refused|Connection timed out|Operation timed out|timed out during banner exchange|No route to host|Network is unreachable|Could not resolve hostname|Name or service not known|Temporary failure in name resolution|kex_exchange_identification|Connection reset by peer|Connection closed by|not responding/i,
    )
  ) {
    return new SlipwayError('HOST_UNREACHABLE', `Cannot reach ${where} over SSH.`, {
      hint: `Check the host name and port, that the host is up and sshd listens there, and the network or firewall in between; \`${manual} true\` shows the same error.`,
      details,
    });
  }
  return new SlipwayError('SSH_CONNECT_FAILED', `Could not open an SSH connection to ${where}.`, {
    hint: `Run \`${manual} -v true\` to see why.`,
    details,
  });
}

export function sshClientMissing(cause: unknown): SlipwayError {
  return new SlipwayError('SSH_CLIENT_MISSING', 'The OpenSSH client (ssh) is not installed or not on PATH.', {
    hint: 'Install it (e.g. apt install openssh-client) and try again.',
    cause,
  });
}
