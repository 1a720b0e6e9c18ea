// OpenMP wait policy for processes that run the CPU backend.
//
// libgomp spin-waits between parallel regions by default. On a machine whose cores are shared
// (an agent beside other work, tests running in parallel) that makes the CPU backend about ten
// times slower. libgomp reads OMP_WAIT_POLICY once, in a constructor that runs before main, so a
// process cannot change it afterwards: it has to set the variable and execute itself again.
#pragma once

namespace plume::kernels {

// When OMP_WAIT_POLICY is unset, sets it to "passive" and re-executes /proc/self/exe with the
// same argv. Returns normally when the variable was already set (the user's choice wins) or
// when re-execution failed (the process then simply keeps the default policy). Call it first
// thing in main, before any thread is started.
void ReexecWithPassiveOmpWait(char** argv);

}  // namespace plume::kernels
