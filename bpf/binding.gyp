{
  # The native addon (N-API via node-addon-api) over Debian's libbpf.
  # Built by bpf/Makefile (node-gyp configure build); output build/Release/metaflow_bpf.node.
  "targets": [
    {
      "target_name": "metaflow_bpf",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"]
    }
  ]
}
