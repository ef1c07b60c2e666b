// A cgroup that counts the CPU of every process put in it and of all their
// children (forked later, they inherit it): the way a benchmark charges
// "the server" or "the baseline" side without chasing short-lived pids.
// cgroup v1's cpuacct where it is mounted (these machines), else cgroup v2.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const V1_ROOT = '/sys/fs/cgroup/cpuacct';
const V2_ROOT = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';

/**
 * @param {string} name a unique name, e.g. `sbs-bench-server-${process.pid}`
 * @returns {{ path: string, add(pid: number): void, usage(): { user: number, system: number, total: number }, remove(): void }}
 *   usage() in CPU seconds since the group was made.
 */
export function createCpuGroup(name) {
  const v1 = existsSync(`${V1_ROOT}/cpuacct.usage`);
  const path = `${v1 ? V1_ROOT : V2_ROOT}/${name}`;
  mkdirSync(path, { recursive: true });
  return {
    path,
    add(pid) {
      writeFileSync(`${path}/cgroup.procs`, `${pid}\n`);
    },
    usage() {
      if (v1) {
        const total = Number(readFileSync(`${path}/cpuacct.usage`, 'utf8')) / 1e9;
        const user = Number(readFileSync(`${path}/cpuacct.usage_user`, 'utf8')) / 1e9;
        const system = Number(readFileSync(`${path}/cpuacct.usage_sys`, 'utf8')) / 1e9;
        return { user, system, total };
      }
      const stat = Object.fromEntries(
        readFileSync(`${path}/cpu.stat`, 'utf8')
          .trim()
          .split('\n')
          .map((line) => line.split(' ')),
      );
      return { user: stat.user_usec / 1e6, system: stat.system_usec / 1e6, total: stat.usage_usec / 1e6 };
    },
    /** Moves what is left to the root group and removes this one. */
    remove() {
      const parent = path.slice(0, path.lastIndexOf('/'));
      for (const pid of readFileSync(`${path}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(`${parent}/cgroup.procs`, `${pid}\n`);
        } catch {
          // it exited meanwhile
        }
      }
      rmdirSync(path);
    },
  };
}
