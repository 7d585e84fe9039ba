// SIGINT/SIGTERM handling: the first signal sets a flag that long-running loops poll (they finish the
// current unit of work, save what must be saved and throw an Interrupted error -> exit 130); a second
// signal ends the process at once with exit code 130.
#pragma once

namespace loratune {

void install_signal_handlers();
bool interrupt_requested();
// Throws Error(ExitCode::Interrupted) if a signal arrived; `what` says what was stopped.
void throw_if_interrupted(const char* what);

}  // namespace loratune
