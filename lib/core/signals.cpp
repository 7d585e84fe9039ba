#include "core/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <string>

#include "core/error.h"

namespace loratune {
namespace {
std::atomic<int> g_signals{0};

extern "C" void on_signal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    const char msg[] = "\n[error] second interrupt: aborting immediately\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(130);
  }
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_signals.load() > 0; }

void throw_if_interrupted(const char* what) {
  if (interrupt_requested())
    throw Error(ExitCode::Interrupted, std::string("interrupted: ") + what + " stopped by a signal");
}

}  // namespace loratune
