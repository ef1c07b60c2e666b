/**
 * The environment sshd runs with: nothing from root's own, except glibc's
 * allocator settings below.
 *
 * Why: a profile of sshd's session process during a backup (perf, recorded in
 * bench/findings/1-cpu-per-gib.md) spent about a tenth of its kernel time in
 * page faults. Its packet and channel buffers are freed and allocated again
 * all the time; glibc gives the freed memory back to the kernel (a trim of the
 * heap's top, an munmap of a large chunk) and the next allocation faults it in
 * again, page by page. Keeping up to 16 MiB of freed memory in the process,
 * and taking chunks up to 4 MiB from the heap instead of mmap, ends that
 * churn; a session's sshd holds its peak buffers instead, a few MiB.
 *
 * The variable reaches sshd's re-executed child for each connection (sshd
 * re-execs itself with its environment) but not the session's command:
 * sshd builds the session's environment from scratch, so `borg serve` keeps
 * glibc's defaults.
 */
const MIB = 1024 * 1024;

export const SSHD_ENVIRONMENT: Readonly<Record<string, string>> = {
  MALLOC_TRIM_THRESHOLD_: String(16 * MIB),
  MALLOC_MMAP_THRESHOLD_: String(4 * MIB),
};
