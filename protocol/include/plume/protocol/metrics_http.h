// A minimal HTTP server for one thing: answering Prometheus scrapes of GET /metrics.
//
// Why not prometheus-cpp's Exposer: it serves through civetweb, whose Debian build gives its
// threads 100 KiB stacks, and glibc carves every linked library's thread-local storage out of
// that. OpenBLAS alone takes 60 KiB; with the CUDA runtime beside it the worker threads of a
// CUDA build of plume-agent overflowed on the first scrape and the agent died. This server uses
// one std::thread with a normal stack and polls up to 16 non-blocking connections together; each
// exchange has 5 s in all, and a newcomer evicts the oldest connection when all are taken, so a
// client that sends nothing, trickles its request or never reads cannot hold scraping up.
//
// Thread safety: `render` runs on the server's thread; it must be safe to call concurrently with
// whatever updates the metrics (prometheus-cpp's Registry::Collect is).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "plume/protocol/error.h"

namespace plume {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;  // the text exposition format, version 0.0.4

  // Binds address:port (port 0 picks a free one) and starts serving. Fails with a message that
  // names the address when the port is taken or the address is not an IPv4 literal.
  static Result<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address, int port,
                                                          Render render);
  ~MetricsHttpServer();  // stops the thread and closes the socket
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const;

 private:
  struct Impl;
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume
