/**
 * Where credentials live, hidden from the target by default. Each entry is checked in every
 * home directory the target could read (every account's, not only $HOME): a harness running as
 * root holds the keys of the machine's other users too.
 */

/** Relative to a home directory. */
export const HOME_SECRETS = [
  '.ssh', '.gnupg', '.password-store', '.local/share/keyrings',
  '.aws', '.azure', '.config/gcloud', '.kube', '.docker', '.oci',
  '.netrc', '.npmrc', '.yarnrc', '.yarnrc.yml', '.pypirc', '.gem/credentials', '.m2/settings.xml',
  '.git-credentials', '.config/git/credentials', '.config/gh', '.config/hub',
  '.cargo/credentials', '.cargo/credentials.toml', '.terraform.d/credentials.tfrc.json', '.vault-token',
  '.config/op', '.mozilla', '.config/google-chrome', '.config/chromium',
];

/** Absolute. `*` matches within one path component. */
export const SYSTEM_SECRETS = [
  '/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/ssh/ssh_host_*_key', '/etc/sudoers',
  '/etc/sudoers.d',
];

/**
 * Files in a home directory that run later, outside the sandbox (a shell's start-up, a desktop's
 * autostart, user services): read-only when the working directory is that home directory.
 */
export const STARTUP_FILES = [
  '.bashrc', '.bash_profile', '.bash_login', '.bash_logout', '.profile', '.zshrc', '.zshenv', '.zprofile',
  '.zlogin', '.zlogout', '.inputrc', '.pam_environment', '.xprofile', '.xsessionrc', '.xinitrc',
  '.config/autostart', '.config/fish', '.config/systemd', '.config/environment.d', '.local/bin', 'bin',
];
