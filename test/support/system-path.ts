/** The PATH every command the tests start gets: the system's own directories, nothing from the caller's environment. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
