import type { Sandbox } from './sandbox.js';
import { SANDBOX_API_USER } from './sandbox.js';

/**
 * What a running (or crashed) server has on disk inside its sandbox, read in
 * two commands: root's rows and the system files it owns (as root), and the
 * API's database (as the API user, so that SQLite's side files stay the API
 * user's). For convergence checks after a crash.
 */

export interface RootHostRow {
  name: string;
  uid: number;
  status: 'active' | 'disabled' | 'deleted' | 'purging';
  fingerprint: string;
  keyType: string;
  keyBase64: string;
  appendOnly: boolean;
  fullAccessUntil: number | null;
  enrollmentId: string | null;
}

export interface KeyFile {
  name: string;
  uid: number;
  gid: number;
  mode: string;
  content: string;
}

export interface RootState {
  hosts: RootHostRow[];
  pendingReports: number;
  passwd: string;
  group: string;
  shadow: string;
  keyFiles: KeyFile[];
  sshdConfig: string;
  /** Entries of the backup directory. */
  backupEntries: string[];
  /** NAME → (path inside the repository → sha256) for every NAME/repo, lock files left out. */
  repositories: Map<string, Map<string, string>>;
}

export interface ApiState {
  enrollments: { id: string; status: string; host: string; fingerprint: string }[];
  tokens: { jti: string; status: string }[];
  deliveries: { id: string; status: string }[];
  hosts: { name: string; status: string; fingerprint: string; uid: number }[];
}

const SEPARATOR = '@@@@';

const ROOT_QUERY = `select json_object(
  'hosts', (select json_group_array(json_object('name', name, 'uid', uid, 'status', status, 'fingerprint', fingerprint,
    'keyType', key_type, 'keyBase64', key_base64, 'appendOnly', append_only, 'fullAccessUntil', full_access_until,
    'enrollmentId', enrollment_id)) from hosts),
  'pendingReports', (select count(*) from root_reports))`;

const API_QUERY = `select json_object(
  'enrollments', (select json_group_array(json_object('id', id, 'status', status, 'host', host_name, 'fingerprint', fingerprint)) from enrollments),
  'tokens', (select json_group_array(json_object('jti', jti, 'status', status)) from enrollment_tokens),
  'deliveries', (select json_group_array(json_object('id', id, 'status', status)) from webhook_deliveries),
  'hosts', (select json_group_array(json_object('name', name, 'status', status, 'fingerprint', fingerprint, 'uid', uid)) from hosts))`;

export async function readRootState(sandbox: Sandbox): Promise<RootState> {
  const keysDir = `${sandbox.stateDir}/ssh/authorized_keys`;
  const script = [
    'set -e',
    `sqlite3 -noheader -list ${sandbox.stateDir}/root/root.db "$1"`,
    `for name in passwd group shadow; do echo ${SEPARATOR}; cat /etc/$name; done`,
    `echo ${SEPARATOR}`,
    `for file in ${keysDir}/*; do [ -e "$file" ] || continue; stat -c '%n %u %g %a' "$file"; cat "$file"; echo; echo '----'; done`,
    `echo ${SEPARATOR}`,
    `cat ${sandbox.stateDir}/ssh/sshd_config`,
    `echo ${SEPARATOR}`,
    `ls -1 ${sandbox.backupDir}`,
    `echo ${SEPARATOR}`,
    `cd ${sandbox.backupDir} && find . -mindepth 3 -path './*/repo/*' -type f ! -name 'lock*' -exec sha256sum {} + || true`,
  ].join('\n');
  const { stdout } = await sandbox.exec(['sh', '-c', script, 'dump', ROOT_QUERY]);
  const [rows = '', passwd = '', group = '', shadow = '', keys = '', sshdConfig = '', entries = '', sums = ''] = stdout.split(
    `${SEPARATOR}\n`,
  );
  const parsedRows = JSON.parse(rows) as { hosts: string | RootHostRow[]; pendingReports: number };
  const hosts = (typeof parsedRows.hosts === 'string' ? JSON.parse(parsedRows.hosts) : parsedRows.hosts) as RootHostRow[];
  const keyFiles: KeyFile[] = keys
    .split('----\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const [header = '', ...rest] = block.split('\n');
      const [path = '', uid = '', gid = '', mode = ''] = header.split(' ');
      return { name: path.slice(keysDir.length + 1), uid: Number(uid), gid: Number(gid), mode, content: rest.join('\n').trimEnd() };
    });
  const repositories = new Map<string, Map<string, string>>();
  for (const line of sums.split('\n').filter(Boolean)) {
    const match = /^([0-9a-f]{64}) {2}\.\/([^/]+)\/repo\/(.+)$/.exec(line);
    if (!match) continue;
    const [, sum = '', name = '', path = ''] = match;
    if (!repositories.has(name)) repositories.set(name, new Map());
    repositories.get(name)?.set(path, sum);
  }
  return {
    hosts: hosts.map((row) => ({ ...row, appendOnly: Boolean(row.appendOnly) })),
    pendingReports: parsedRows.pendingReports,
    passwd,
    group,
    shadow,
    keyFiles,
    sshdConfig,
    backupEntries: entries.split('\n').filter(Boolean),
    repositories,
  };
}

export async function readApiState(sandbox: Sandbox): Promise<ApiState> {
  const { stdout } = await sandbox.exec([
    'setpriv',
    `--reuid=${SANDBOX_API_USER}`,
    `--regid=${SANDBOX_API_USER}`,
    '--clear-groups',
    '--',
    'sqlite3',
    '-noheader',
    '-list',
    `${sandbox.stateDir}/db/borg.db`,
    API_QUERY,
  ]);
  const parsed = JSON.parse(stdout) as Record<string, unknown>;
  const field = <T>(name: string) => (typeof parsed[name] === 'string' ? JSON.parse(parsed[name] as string) : parsed[name]) as T;
  return {
    enrollments: field('enrollments'),
    tokens: field('tokens'),
    deliveries: field('deliveries'),
    hosts: field('hosts'),
  };
}

/** Lines of an account file (passwd, group, shadow) by their first field. */
export function accountLines(content: string): Map<string, string[]> {
  return new Map(
    content
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const fields = line.split(':');
        return [fields[0] as string, fields];
      }),
  );
}
