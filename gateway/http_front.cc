#include "gateway/http_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gateway/transcode.h"

namespace perfflow::gateway {

struct HttpFront::Connection {
  int fd = -1;
  std::string remote_ip;
  int remote_port = 0;
  // Bytes received and not yet handed to httplib.
  std::string buffer;
  // Until the first byte: the idle deadline; after it: the request's.
  absl::Time deadline;
  bool started = false;
  // Known once the head is complete.
  size_t head_bytes = 0;
  size_t body_bytes = 0;  // declared Content-Length
  bool chunked = false;
  bool expect_continue = false;
  // Refused: the response is sent and what the client still sends is read
  // and dropped for a moment, so a client that writes its whole body before
  // reading sees the refusal instead of a reset (a "lingering close").
  bool draining = false;
  size_t drain_budget = 0;
};

namespace {

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

int MillisUntil(absl::Time deadline) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 60'000));
}

// What the front needs of a request head: its framing.
struct Framing {
  std::string method;
  std::string target;
  std::optional<size_t> content_length;
  bool chunked = false;
  std::string error;  // non-empty: refuse with 400
  bool not_implemented = false;
  // The client waits for "100 Continue" (httplib sends it) before the body.
  bool expect_continue = false;
};

Framing ParseFraming(absl::string_view head) {
  Framing f;
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> request_line = absl::StrSplit(lines.empty() ? "" : lines[0], ' ');
  f.method = std::string(request_line[0]);
  if (request_line.size() > 1) f.target = std::string(request_line[1]);
  bool has_te = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(lines[i].substr(0, colon)));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "content-length") {
      size_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || !absl::ascii_isdigit(value.empty() ? 'x' : value[0])) {
        f.error = "malformed Content-Length";
      } else if (f.content_length && *f.content_length != n) {
        f.error = "conflicting Content-Length headers";
      }
      f.content_length = n;
    } else if (name == "expect") {
      f.expect_continue = absl::EqualsIgnoreCase(value, "100-continue");
    } else if (name == "transfer-encoding") {
      has_te = true;
      f.chunked = absl::EqualsIgnoreCase(value, "chunked");
      if (!f.chunked) f.not_implemented = true;
    }
  }
  // Both framings at once is how requests are smuggled past proxies.
  if (has_te && f.content_length) f.error = "both Transfer-Encoding and Content-Length";
  return f;
}

// Reads from the front's buffer, then from the socket; every wait is bounded
// by the request's deadline, every write by the write timeout.
class FrontStream : public httplib::Stream {
 public:
  FrontStream(HttpFront::Connection& conn, absl::Duration write_timeout) : conn_(conn), write_timeout_(write_timeout) {}

  bool is_readable() const override { return pos_ < conn_.buffer.size() || Wait(POLLIN, conn_.deadline); }
  bool is_writable() const override { return Wait(POLLOUT, absl::Now() + write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < conn_.buffer.size()) {
      const size_t n = std::min(size, conn_.buffer.size() - pos_);
      std::memcpy(ptr, conn_.buffer.data() + pos_, n);
      pos_ += n;
      consumed_ += n;
      return static_cast<ssize_t>(n);
    }
    while (true) {
      if (!Wait(POLLIN, conn_.deadline)) return failed(-1);
      const ssize_t n = ::recv(conn_.fd, ptr, size, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return failed(n);
      consumed_ += static_cast<size_t>(n);
      return n;
    }
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      if (!Wait(POLLOUT, absl::Now() + write_timeout_)) return failed(-1);
      const ssize_t n = ::send(conn_.fd, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return failed(-1);
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.remote_ip;
    port = conn_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    if (getsockname(conn_.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }
  int socket() const override { return conn_.fd; }

  // Bytes of this connection handed to httplib so far.
  size_t consumed() const { return consumed_; }
  bool broken() const { return broken_; }
  // Drops up to `n` buffered bytes (an unread small body); false when they
  // are not all buffered.
  bool SkipBuffered(size_t n) {
    if (conn_.buffer.size() - pos_ < n) return false;
    pos_ += n;
    consumed_ += n;
    return true;
  }
  // The buffered bytes httplib did not take: the next pipelined request.
  std::string Leftover() const { return conn_.buffer.substr(pos_); }

 private:
  bool Wait(short events, absl::Time deadline) const {
    pollfd p{conn_.fd, events, 0};
    while (true) {
      const int ms = MillisUntil(deadline);
      const int r = ::poll(&p, 1, ms);
      if (r < 0 && errno == EINTR) continue;
      return r > 0 && (p.revents & events) != 0;
    }
  }
  ssize_t failed(ssize_t n) {
    broken_ = true;
    return n;
  }

  HttpFront::Connection& conn_;
  absl::Duration write_timeout_;
  size_t pos_ = 0;
  size_t consumed_ = 0;
  bool broken_ = false;
};

}  // namespace

HttpFront::HttpFront(HttpFrontOptions options, RequestProcessor* processor, RejectHook on_reject)
    : options_(std::move(options)), processor_(processor), on_reject_(std::move(on_reject)) {}

HttpFront::~HttpFront() { Stop(); }

absl::Status HttpFront::Start() {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string port = std::to_string(options_.port);
  if (getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::UnavailableError("cannot resolve the HTTP host " + options_.host);
  }
  listen_fd_ = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  int yes = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const bool bound =
      listen_fd_ >= 0 && ::bind(listen_fd_, found->ai_addr, found->ai_addrlen) == 0 && ::listen(listen_fd_, 1024) == 0;
  freeaddrinfo(found);
  if (!bound) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind the HTTP port ", options_.port, " on ", options_.host, ": ", std::strerror(errno)));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  SetNonBlocking(listen_fd_);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  processor_->SetServing(listen_fd_);
  pool_ = std::make_unique<httplib::ThreadPool>(static_cast<size_t>(std::max(1, options_.threads)));
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void HttpFront::Stop() {
  if (!loop_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  loop_.join();
  // Requests in flight finish; their connections are closed, not kept.
  pool_->shutdown();
  processor_->SetServing(-1);
  TakeReturned();
  waiting_.clear();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  listen_fd_ = epoll_fd_ = wake_fd_ = -1;
}

void HttpFront::Loop() {
  epoll_event events[64];
  while (!stopping_) {
    const int n = epoll_wait(epoll_fd_, events, 64, 250);
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        Accept();
      } else if (fd == wake_fd_) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof(count));
        TakeReturned();
      } else {
        OnReadable(fd);
      }
    }
    ExpireDeadlines();
  }
  for (auto& [fd, conn] : waiting_) {
    ::close(fd);
    --open_;
  }
  waiting_.clear();
}

void HttpFront::Accept() {
  while (true) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (open_ >= options_.max_connections) {
      ::close(fd);
      if (on_reject_) on_reject_(503, "too many connections", "");
      continue;
    }
    int yes = 1;
    // Headers and body go out in separate writes: without this, Nagle and
    // the client's delayed ACK add 40 ms to every response.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    auto conn = std::make_unique<Connection>();
    conn->fd = fd;
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      conn->remote_ip = host;
      conn->remote_port = std::atoi(serv);
    }
    conn->deadline = absl::Now() + options_.read_timeout;
    ++open_;
    Watch(std::move(conn));
  }
}

void HttpFront::Watch(std::unique_ptr<Connection> conn) {
  const int fd = conn->fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  waiting_[fd] = std::move(conn);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  // A kept-alive connection may already hold the next request.
  if (!waiting_[fd]->buffer.empty()) Advance(fd);
}

void HttpFront::OnReadable(int fd) {
  auto it = waiting_.find(fd);
  if (it == waiting_.end()) return;
  Connection& conn = *it->second;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0 && conn.draining) {
      if (static_cast<size_t>(n) < conn.drain_budget) {
        conn.drain_budget -= static_cast<size_t>(n);
        continue;
      }
    } else if (n > 0) {
      if (!conn.started) {
        conn.started = true;
        conn.deadline = absl::Now() + options_.read_timeout;
      }
      conn.buffer.append(buf, static_cast<size_t>(n));
      if (conn.buffer.size() > options_.max_head_bytes + options_.buffered_body_bytes) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    // The peer closed or failed, or a refused client sent more than it may.
    auto conn_ptr = std::move(it->second);
    waiting_.erase(it);
    return Close(std::move(conn_ptr));
  }
  if (!conn.draining) Advance(fd);
}

void HttpFront::Advance(int fd) {
  auto it = waiting_.find(fd);
  if (it == waiting_.end()) return;
  Connection& conn = *it->second;
  auto take = [&] {
    auto owned = std::move(it->second);
    waiting_.erase(it);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    return owned;
  };
  if (!conn.started && !conn.buffer.empty()) {
    conn.started = true;
    conn.deadline = absl::Now() + options_.read_timeout;
  }
  if (conn.head_bytes == 0) {
    const size_t end = conn.buffer.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (conn.buffer.size() > options_.max_head_bytes) return Refuse(take(), 431, "request head too large");
      return;
    }
    if (end + 4 > options_.max_head_bytes) return Refuse(take(), 431, "request head too large");
    Framing f = ParseFraming(absl::string_view(conn.buffer).substr(0, end));
    if (!f.error.empty()) return Refuse(take(), 400, f.error);
    if (f.not_implemented) return Refuse(take(), 501, "only the chunked transfer encoding is supported");
    const bool upload = !options_.upload_prefix.empty() && absl::StartsWith(f.target, options_.upload_prefix);
    const size_t max_body = upload ? options_.max_upload_bytes : options_.max_body_bytes;
    if (f.content_length && *f.content_length > max_body) {
      return Refuse(take(), 413, absl::StrCat("request body too large (at most ", max_body, " bytes)"));
    }
    // A file from a phone takes longer than an API call.
    if (upload) conn.deadline = absl::Now() + options_.upload_read_timeout;
    const bool body_method = f.method == "POST" || f.method == "PUT" || f.method == "PATCH" || f.method == "DELETE";
    if (f.chunked && !body_method) return Refuse(take(), 400, f.method + " takes no chunked body");
    conn.head_bytes = end + 4;
    conn.body_bytes = f.content_length.value_or(0);
    conn.chunked = f.chunked;
    conn.expect_continue = f.expect_continue;
  }
  // Small bodies are read here; larger and chunked ones by the handler,
  // after it has checked who is calling.
  const bool buffered_body = !conn.chunked && !conn.expect_continue && conn.body_bytes <= options_.buffered_body_bytes;
  if (buffered_body && conn.buffer.size() < conn.head_bytes + conn.body_bytes) return;
  Serve(take());
}

void HttpFront::Serve(std::unique_ptr<Connection> conn) {
  std::shared_ptr<Connection> shared(conn.release());
  pool_->enqueue([this, shared] {
    Connection& c = *shared;
    FrontStream stream(c, options_.write_timeout);
    bool closed = false;
    const bool written =
        processor_->process_request(stream, /*close_connection=*/stopping_ || c.chunked, closed, nullptr);
    bool keep = written && !closed && !c.chunked && !stream.broken() && !stopping_;
    // A body the handler did not read (a refused request) is skipped when it
    // is buffered; otherwise the connection cannot be reused.
    const size_t request_bytes = c.head_bytes + c.body_bytes;
    if (keep && stream.consumed() < request_bytes) keep = stream.SkipBuffered(request_bytes - stream.consumed());
    auto next = std::make_unique<Connection>();
    next->fd = c.fd;
    next->remote_ip = c.remote_ip;
    next->remote_port = c.remote_port;
    if (!keep) {
      // With a body left unread (a refused upload), closing at once would
      // reset the connection under the reply: linger as Refuse does.
      const bool unread = c.chunked || stream.consumed() < request_bytes;
      if (!unread || stream.broken() || stopping_) return Close(std::move(next));
      Linger(*next);
    } else {
      next->buffer = stream.Leftover();
      next->deadline = absl::Now() + options_.keep_alive_timeout;
    }
    {
      absl::MutexLock lock(&returned_mu_);
      returned_.push_back(std::move(next));
    }
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  });
}

void HttpFront::TakeReturned() {
  std::deque<std::unique_ptr<Connection>> returned;
  {
    absl::MutexLock lock(&returned_mu_);
    returned.swap(returned_);
  }
  for (auto& conn : returned) {
    if (stopping_) {
      Close(std::move(conn));
    } else {
      Watch(std::move(conn));
    }
  }
}

void HttpFront::Refuse(std::unique_ptr<Connection> conn, int status, const std::string& reason) {
  const grpc::StatusCode code = status == 413   ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                : status == 501 ? grpc::StatusCode::UNIMPLEMENTED
                                : status == 408 ? grpc::StatusCode::DEADLINE_EXCEEDED
                                                : grpc::StatusCode::INVALID_ARGUMENT;
  const std::string body = ErrorJson(grpc::Status(code, reason));
  const char* text = status == 413   ? "Payload Too Large"
                     : status == 431 ? "Request Header Fields Too Large"
                     : status == 501 ? "Not Implemented"
                     : status == 408 ? "Request Timeout"
                                     : "Bad Request";
  const std::string response = absl::StrCat("HTTP/1.1 ", status, " ", text, "\r\nContent-Type: application/json\r\n",
                                            "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  // Best effort: a client that does not read its refusal loses it.
  (void)!::send(conn->fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (on_reject_) on_reject_(status, reason, conn->remote_ip);
  Linger(*conn);
  Watch(std::move(conn));
}

void HttpFront::Linger(Connection& conn) const {
  ::shutdown(conn.fd, SHUT_WR);
  conn.draining = true;
  conn.drain_budget = 2 * options_.max_body_bytes;
  conn.deadline = absl::Now() + absl::Seconds(2);
  conn.buffer.clear();
}

void HttpFront::Close(std::unique_ptr<Connection> conn) {
  ::shutdown(conn->fd, SHUT_RDWR);
  ::close(conn->fd);
  --open_;
}

void HttpFront::ExpireDeadlines() {
  const absl::Time now = absl::Now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second->deadline > now) {
      ++it;
      continue;
    }
    auto conn = std::move(it->second);
    const int fd = it->first;
    it = waiting_.erase(it);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    // An idle kept-alive connection just ends; a request that did not arrive
    // in time is told so.
    if (conn->started && !conn->draining) {
      Refuse(std::move(conn), 408, "the request did not arrive within the read timeout");
    } else {
      Close(std::move(conn));
    }
  }
}

}  // namespace perfflow::gateway
