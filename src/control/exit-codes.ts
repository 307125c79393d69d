// php-fpm's exit codes (reference §1), shared by the command line, the master and the launcher.
export const EXIT_OK = 0;
export const EXIT_USAGE = 64;
export const EXIT_SOFTWARE = 70;   // also the daemonizing launcher when the master failed
export const EXIT_CONFIG = 78;
