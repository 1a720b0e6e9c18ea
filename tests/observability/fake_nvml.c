/* A stand-in for libnvidia-ml.so.1 with the six functions the agent loads (node-agent/src/
 * gpu_probe.cc), answering fixed values, so that a test can show the NVML path end to end on a
 * host without the NVIDIA driver. Built as libnvidia-ml.so.1 in its own directory, put on
 * LD_LIBRARY_PATH only for that test. */
typedef struct {
  unsigned int gpu;
  unsigned int memory;
} FakeUtilization;

int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  (void)uuid;
  *device = (void*)1;
  return 0;
}
int nvmlDeviceGetUtilizationRates(void* device, FakeUtilization* u) {
  (void)device;
  u->gpu = 42;
  u->memory = 7;
  return 0;
}
int nvmlDeviceGetPowerUsage(void* device, unsigned int* milliwatts) {
  (void)device;
  *milliwatts = 123500;
  return 0;
}
int nvmlDeviceGetTemperature(void* device, int sensor, unsigned int* celsius) {
  (void)device;
  (void)sensor;
  *celsius = 61;
  return 0;
}
