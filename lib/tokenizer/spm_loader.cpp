#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "tokenizer/spm_backend.h"

namespace loratune::spm {
namespace {
std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return parent_dir(buf);
}

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("LORATUNE_SPM_PLUGIN")) c.push_back(env);
  const std::string dir = exe_dir();
  c.push_back(join_path(dir, "libloratune_spm.so"));
  c.push_back(join_path(dir, "../lib/loratune/libloratune_spm.so"));
#ifdef LORATUNE_SPM_PLUGIN_PATH
  c.push_back(LORATUNE_SPM_PLUGIN_PATH);
#endif
  return c;
}

const Api* load_plugin() {
#if defined(__SANITIZE_ADDRESS__)
  const int flags = RTLD_NOW | RTLD_LOCAL;  // ASan does not support RTLD_DEEPBIND (torch-free tests only)
#else
  const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
  std::string tried;
  for (const auto& path : candidates()) {
    if (!path_exists(path)) {
      tried += "\n  " + path + " (not found)";
      continue;
    }
    void* h = ::dlopen(path.c_str(), flags);
    if (!h) {
      tried += "\n  " + path + " (" + ::dlerror() + ")";
      continue;
    }
    auto entry = reinterpret_cast<const Api* (*)()>(::dlsym(h, "loratune_spm_api"));
    const Api* api = entry ? entry() : nullptr;
    if (!api || api->version != kApiVersion) {
      tried += "\n  " + path + " (not a loratune SentencePiece plugin of this version)";
      continue;
    }
    return api;
  }
  fail_runtime("cannot load the SentencePiece plugin libloratune_spm.so; tried:" + tried,
               "reinstall/rebuild loratune (the plugin is built next to the binary), or set LORATUNE_SPM_PLUGIN");
}
}  // namespace

const Api& api() {
  static const Api* loaded = load_plugin();
  return *loaded;
}

}  // namespace loratune::spm
