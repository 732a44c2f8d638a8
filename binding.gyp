{
  "targets": [
    {
      "target_name": "worm_run",
      "sources": [
        "native/addon.cc",
        "native/chain.cc",
        "native/cleanup.cc",
        "native/contain.cc",
        "native/exitrecord.cc",
        "native/init.cc",
        "native/landlock.cc",
        "native/notify.cc",
        "native/probe.cc",
        "native/reserve.cc",
        "native/rlimit.cc",
        "native/run_handle.cc",
        "native/seccomp.cc",
        "native/self.cc",
        "native/sha256.cc",
        "native/spawn.cc",
        "native/target.cc",
        "native/terminal.cc",
        "native/verdict.cc",
        "native/watchdog.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-fno-exceptions"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
