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
  '/etc/sudoers.d', '/etc/ssl/private', '/etc/krb5.keytab', '/etc/wireguard', '/etc/NetworkManager/system-connections',
  '/etc/kubernetes/admin.conf', '/etc/kubernetes/pki', '/etc/rancher/k3s/k3s.yaml',
  // Secrets mounted into containers: Docker and Compose secrets, Kubernetes service-account tokens.
  '/run/secrets', '/var/run/secrets',
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

/**
 * More of a home directory that other programs run or load later, outside the sandbox: read-only
 * (or, when absent, not to be made) when the home directory is writable, as the start-up files
 * are. Programs' configuration that names a command (git's core.fsmonitor and aliases, an
 * editor's start-up files), code on the paths interpreters search (Python's user site-packages,
 * Node's global folders), version managers' shims and toolchains, and the package caches a
 * later install trusts (a poisoned npm or pip cache is code that runs on the next install).
 * Also every directory on $PATH inside the home (see planFilesystem). The list cannot be
 * complete: a home directory is full of code; run from a job directory where possible.
 */
export const LATER_CODE = [
  '.gitconfig', '.config/git', '.bash_aliases', '.bash_completion', '.kshrc', '.mkshrc', '.cshrc', '.tcshrc', '.login',
  '.logout', '.xsession', '.Rprofile', '.pythonrc', '.pythonrc.py', '.ipython', '.bunfig.toml',
  '.vimrc', '.vim', '.exrc', '.config/nvim', '.emacs', '.emacs.d', '.tmux.conf', '.screenrc', '.local/share/applications',
  '.local/lib', '.node_modules', '.node_libraries', '.npm', '.cache/pip',
  '.pyenv', '.rbenv', '.nvm', '.volta', '.asdf', '.sdkman', '.cargo/bin', '.cargo/config', '.cargo/config.toml', '.rustup',
  '.gradle/init.d', '.gradle/init.gradle',
];
