#include "curve_rtt.h"

#include <zmq.h>

#include <chrono>
#include <string>
#include <thread>

namespace plume::bench {
namespace {

struct Sock {
  void* s = nullptr;
  ~Sock() {
    if (s != nullptr) zmq_close(s);
  }
};

std::string ZmqError(const std::string& what) { return what + ": " + zmq_strerror(zmq_errno()); }

}  // namespace

Result<std::vector<double>> BareCurveRoundTripsUs(int count, int warmup, size_t bytes) {
  char server_pk[41], server_sk[41], client_pk[41], client_sk[41];
  if (zmq_curve_keypair(server_pk, server_sk) != 0 ||
      zmq_curve_keypair(client_pk, client_sk) != 0) {
    return Fail(ZmqError("zmq_curve_keypair (libzmq built without CURVE?)"));
  }
  void* ctx = zmq_ctx_new();
  std::vector<double> out;
  std::string error;
  {
    Sock router, dealer;
    router.s = zmq_socket(ctx, ZMQ_ROUTER);
    dealer.s = zmq_socket(ctx, ZMQ_DEALER);
    const int one = 1, linger = 0;
    zmq_setsockopt(router.s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(router.s, ZMQ_CURVE_SECRETKEY, server_sk, 40);
    zmq_setsockopt(router.s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer.s, ZMQ_CURVE_SERVERKEY, server_pk, 40);
    zmq_setsockopt(dealer.s, ZMQ_CURVE_PUBLICKEY, client_pk, 40);
    zmq_setsockopt(dealer.s, ZMQ_CURVE_SECRETKEY, client_sk, 40);
    zmq_setsockopt(dealer.s, ZMQ_LINGER, &linger, sizeof linger);
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_bind(router.s, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(router.s, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0 ||
        zmq_connect(dealer.s, endpoint) != 0) {
      error = ZmqError("bind/connect on loopback");
    } else {
      const int total = warmup + count;
      // The echo side: a ROUTER that sends every message back to its sender, as a reactor would.
      std::thread echo([&] {
        for (int i = 0; i < total; ++i) {
          zmq_msg_t id, body;
          zmq_msg_init(&id);
          zmq_msg_init(&body);
          if (zmq_msg_recv(&id, router.s, 0) < 0 || zmq_msg_recv(&body, router.s, 0) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return;
          }
          zmq_msg_send(&id, router.s, ZMQ_SNDMORE);
          zmq_msg_send(&body, router.s, 0);
        }
      });
      std::string payload(bytes, 'x');
      std::string reply(bytes + 16, '\0');
      out.reserve(static_cast<size_t>(count));
      for (int i = 0; i < total; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        if (zmq_send(dealer.s, payload.data(), payload.size(), 0) < 0 ||
            zmq_recv(dealer.s, reply.data(), reply.size(), 0) < 0) {
          error = ZmqError("round trip");
          break;
        }
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= warmup) out.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      if (!error.empty()) zmq_ctx_shutdown(ctx);  // makes the echo thread's recv return ETERM
      echo.join();
    }
  }
  zmq_ctx_term(ctx);
  if (!error.empty()) return Fail(error);
  return out;
}

}  // namespace plume::bench
