#pragma once

// The gateway's HTTP connection handling, in front of cpp-httplib's request
// parser and router.
//
// cpp-httplib 0.11 gives each connection a pool thread while it reads the
// request, so 64 clients sending one header byte a second hold every thread
// (slowloris), and it reads chunked bodies without the body limit. Here one
// epoll thread reads each request head, and a small body, without blocking,
// bounded in bytes and in total time; only a complete head reaches a pool
// thread, which runs httplib's parser and router on the buffered bytes. A
// declared body over the limit is refused before a byte of it is read;
// larger and chunked bodies are read by the handler after it has checked the
// caller (the gateway authenticates first), within the same time bound.
//
// Thread-safety: Start and Stop from one thread; the rest is internal.

#include <httplib.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfflow::gateway {

// cpp-httplib's request processing without its accept loop.
class RequestProcessor : public httplib::Server {
 public:
  using httplib::Server::process_request;
  // httplib streams chunked responses while its listening socket is valid:
  // the front's listening socket stands in for it.
  void SetServing(int fd) { svr_sock_ = fd; }
};

struct HttpFrontOptions {
  std::string host = "0.0.0.0";
  int port = 8080;  // 0 = pick a free port
  int threads = 64;
  // What one waiting connection may hold is at most max_head_bytes +
  // buffered_body_bytes, so max_connections bounds the memory of clients
  // that have not been checked yet (1024 x 48 KiB = 48 MiB).
  size_t max_head_bytes = 32 * 1024;
  size_t max_body_bytes = 1 << 20;
  // Requests under this path prefix (the action pages' file uploads) may
  // carry up to max_upload_bytes, read within upload_read_timeout of the
  // head; their handler reads the body only after checking the caller.
  std::string upload_prefix;
  size_t max_upload_bytes = 20 << 20;
  absl::Duration upload_read_timeout = absl::Seconds(120);
  // Bodies up to this size are read by the epoll thread before dispatch.
  size_t buffered_body_bytes = 16 * 1024;
  // One request, head and body, from its first byte.
  absl::Duration read_timeout = absl::Seconds(10);
  // Idle time allowed between requests on a kept-alive connection.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(10);
  // Beyond this, new connections are closed at once (counted as 503).
  size_t max_connections = 1024;
};

class HttpFront {
 public:
  // Called for each request the front refuses itself (HTTP status, reason,
  // remote address), for metrics and the access log.
  using RejectHook = std::function<void(int status, const std::string& reason, const std::string& remote)>;

  HttpFront(HttpFrontOptions options, RequestProcessor* processor, RejectHook on_reject);
  ~HttpFront();

  // Binds and starts the epoll thread and the pool.
  absl::Status Start();
  int port() const { return port_; }
  // Stops accepting, closes idle and half-read connections, lets requests in
  // flight finish.
  void Stop();

  struct Connection;

 private:
  void Loop();
  void Accept();
  void OnReadable(int fd);
  // Dispatches, refuses or keeps waiting for the connection's buffered bytes.
  void Advance(int fd);
  void Serve(std::unique_ptr<Connection> conn);
  void Refuse(std::unique_ptr<Connection> conn, int status, const std::string& reason);
  // After a refusal: stop writing, read and drop what the client still sends
  // for a moment (its body), so it sees the reply instead of a reset.
  void Linger(Connection& conn) const;
  void Close(std::unique_ptr<Connection> conn);
  void Watch(std::unique_ptr<Connection> conn);
  void ExpireDeadlines();
  void TakeReturned();

  HttpFrontOptions options_;
  RequestProcessor* processor_;
  RejectHook on_reject_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread loop_;
  std::unique_ptr<httplib::ThreadPool> pool_;
  // Owned by the loop thread.
  std::map<int, std::unique_ptr<Connection>> waiting_;
  // Kept-alive connections handed back by pool threads.
  absl::Mutex returned_mu_;
  std::deque<std::unique_ptr<Connection>> returned_ ABSL_GUARDED_BY(returned_mu_);
  std::atomic<size_t> open_{0};
};

}  // namespace perfflow::gateway
