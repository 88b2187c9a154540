// The epoll model against the Channel contract, over real loopback sockets: what the integration
// suites cannot pin down from outside (no callback inside send() or inside the session's own
// receive(), readiness remembered across an edge nobody waited for, the short-sendfile rule).
#include "backends/epoll/epoll_backend.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/admission.hpp"
#include "core/incoming.hpp"
#include "fs/page_cache.hpp"
#include "log/log_sink.hpp"

namespace iocomp::epoll {
namespace {

using namespace std::chrono_literals;

// What the sessions did, seen from the test's thread.
struct Record {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> events;
  int reentered = 0;           // a callback ran inside another of the same session
  int sent_inside_send = 0;    // on_sent ran inside send()
  int warmed_inside_warm = 0;  // on_warmed ran inside warm()

  void add(std::string event) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(event));
    changed.notify_all();
  }
  bool wait_for(const std::string& event, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] {
      for (const auto& e : events) {
        if (e == event) return true;
      }
      return false;
    });
  }
};

// A session whose behaviour each test scripts; it checks the contract on every callback.
struct Script {
  std::function<void(core::Channel&)> open = [](core::Channel& c) { c.receive(); };
  std::function<void(core::Channel&, std::string_view)> receive;
  std::function<void(core::Channel&, int, std::uint64_t)> sent;
  std::function<void(core::Channel&)> timeout;
  std::function<void(core::Channel&)> warmed;
};

class ScriptedSession final : public core::SessionHandler {
 public:
  ScriptedSession(core::Channel& channel, Record& record, const Script& script)
      : channel_(channel), record_(record), script_(script) {}

  void on_open() override {
    const Enter enter(*this);
    script_.open(channel_);
  }
  void on_receive(std::string_view bytes) override {
    const Enter enter(*this);
    record_.add("receive " + std::string(bytes));
    if (script_.receive) script_.receive(channel_, bytes);
  }
  void on_receive_end(int error) override {
    const Enter enter(*this);
    record_.add("end " + std::to_string(error));
    channel_.close();
  }
  void on_sent(int error, std::uint64_t bytes) override {
    if (in_send_) ++record_.sent_inside_send;
    const Enter enter(*this);
    record_.add("sent " + std::to_string(error) + " " + std::to_string(bytes));
    if (script_.sent) script_.sent(channel_, error, bytes);
  }
  void on_timeout(core::TimerKind) override {
    const Enter enter(*this);
    record_.add("timeout");
    if (script_.timeout) script_.timeout(channel_);
  }
  void on_drain() override { channel_.close(); }
  void on_warmed() override {
    if (in_warm_) ++record_.warmed_inside_warm;
    const Enter enter(*this);
    record_.add("warmed");
    if (script_.warmed) script_.warmed(channel_);
  }

  // Sends with the guard that catches an on_sent from inside send().
  void send(std::string_view head, std::string_view body, core::FileRange file) {
    in_send_ = true;
    channel_.send(head, body, file);
    in_send_ = false;
  }
  // Warms with the guard that catches an on_warmed from inside warm().
  void warm(int fd, std::uint64_t offset, std::uint64_t length) {
    in_warm_ = true;
    channel_.warm(fd, offset, length);
    in_warm_ = false;
  }

 private:
  struct Enter {
    ScriptedSession& s;
    explicit Enter(ScriptedSession& session) : s(session) {
      if (s.depth_++ > 0) ++s.record_.reentered;
    }
    ~Enter() { --s.depth_; }
  };

  core::Channel& channel_;
  Record& record_;
  const Script& script_;
  int depth_ = 0;
  bool in_send_ = false;
  bool in_warm_ = false;
};

class EpollBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listen_fd_, 8), 0);
    done_fd_ = ::eventfd(0, EFD_CLOEXEC);
    env_.config.workers = 1;
    env_.config.header_timeout_ms = 150;
    env_.config.linger_timeout_ms = 300;
    env_.config.drain_timeout_ms = 300;
    env_.config.send_chunk = 64 * 1024;  // several turns per large file
    env_.admission = &admission_;
    env_.logs.events = &sink_;  // the worker's log lines (out-of-memory reports) go nowhere
    env_.done_fd = done_fd_;
    env_.factory = [this](core::Channel& channel, log::EventLog&, int) {
      auto session = std::make_unique<ScriptedSession>(channel, record_, script_);
      session_ = session.get();
      return session;
    };
    backend_ = std::make_unique<EpollBackend>(env_);
    backend_->start();
  }

  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    backend_->stop();
    pollfd p{done_fd_, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "the backend did not stop";
    backend_->join();
    backend_.reset();
    EXPECT_EQ(admission_.connections(), 0u);
    EXPECT_EQ(record_.reentered, 0);
    EXPECT_EQ(record_.sent_inside_send, 0);
    EXPECT_EQ(record_.warmed_inside_warm, 0);
    ::close(done_fd_);
    ::close(listen_fd_);
  }

  // Connects a client and hands the accepted socket to the backend as the acceptor would.
  void connect_client(int rcvbuf = 0) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    client_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) ::setsockopt(client_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    auto incoming = std::make_unique<core::IncomingConnection>();
    socklen_t peer_len = sizeof incoming->peer;
    incoming->fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&incoming->peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    ASSERT_GE(incoming->fd, 0);
    incoming->address_key = core::AdmissionControl::address_key(incoming->peer);
    ASSERT_EQ(admission_.admit(incoming->address_key), core::Admission::admitted);
    backend_->adopt(std::move(incoming));
    backend_->flush_adopted();
  }

  void write_all(std::string_view bytes) {
    ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // Reads until `count` bytes or the end of the stream (bounded by a 5 s poll).
  std::string read_bytes(std::size_t count) {
    std::string out;
    char buffer[65536];
    while (out.size() < count) {
      pollfd p{client_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) break;
      const ssize_t n = ::recv(client_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }

  // A temporary file of `size` bytes; the descriptor stays open for the test.
  int temp_file(std::size_t size) {
    FILE* f = std::tmpfile();
    files_.push_back(f);
    std::string block(size, 'x');
    for (std::size_t i = 0; i < size; ++i) block[i] = static_cast<char>('a' + i % 26);
    std::fwrite(block.data(), 1, block.size(), f);
    std::fflush(f);
    return ::fileno(f);
  }

  ~EpollBackendTest() override {
    for (FILE* f : files_) std::fclose(f);
    ::close(devnull_);
  }

  core::AdmissionControl admission_{core::AdmissionLimits{}};
  int devnull_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  log::LogSink sink_{devnull_};
  core::BackendEnvironment env_;
  Record record_;
  Script script_;
  ScriptedSession* session_ = nullptr;  // the last one made (worker thread)
  std::unique_ptr<EpollBackend> backend_;
  int listen_fd_ = -1;
  int done_fd_ = -1;
  int client_ = -1;
  std::vector<FILE*> files_;
};

TEST_F(EpollBackendTest, ReceivesAndAnswersWithoutReentering) {
  std::string input;
  script_.receive = [&](core::Channel& c, std::string_view bytes) {
    input.append(bytes);
    if (input.find('\n') == std::string::npos) {
      c.receive();  // inside on_receive: must not call on_receive again from here
      return;
    }
    session_->send(input, {}, {});
  };
  script_.sent = [&](core::Channel& c, int, std::uint64_t) {
    input.clear();
    c.receive();
  };
  connect_client();
  write_all("hel");
  ASSERT_TRUE(record_.wait_for("receive hel"));
  write_all("lo\n");
  EXPECT_EQ(read_bytes(6), "hello\n");
  ASSERT_TRUE(record_.wait_for("sent 0 6"));
  write_all("again\n");
  EXPECT_EQ(read_bytes(6), "again\n");
  ::shutdown(client_, SHUT_WR);
  EXPECT_TRUE(record_.wait_for("end 0"));
  EXPECT_EQ(read_bytes(1), "");  // the server's close follows
}

TEST_F(EpollBackendTest, DataThatArrivedBeforeReceiveIsDelivered) {
  // No receive at first: the edge of the early bytes finds nobody waiting. The receive asked
  // for later (from a timer) must still see them, though no new edge comes.
  script_.open = [](core::Channel& c) { c.set_timer(core::TimerKind::header); };
  script_.timeout = [](core::Channel& c) { c.receive(); };
  connect_client();
  write_all("early\n");
  EXPECT_TRUE(record_.wait_for("timeout"));
  EXPECT_TRUE(record_.wait_for("receive early\n"));
}

TEST_F(EpollBackendTest, EmptySendCompletesLater) {
  script_.open = [this](core::Channel&) { session_->send({}, {}, {}); };
  connect_client();
  EXPECT_TRUE(record_.wait_for("sent 0 0"));
}

TEST_F(EpollBackendTest, ShrunkFileEndsTheSendAtOnce) {
  const int fd = temp_file(1000);
  script_.open = [this, fd](core::Channel&) { session_->send("head", {}, {fd, 0, 5000}); };
  script_.sent = [](core::Channel& c, int, std::uint64_t) { c.close(); };
  connect_client();
  // Reported without waiting for the send timeout: a short sendfile is followed by another.
  EXPECT_TRUE(record_.wait_for("sent " + std::to_string(core::kFileShrank) + " 1004", 2000ms));
  EXPECT_EQ(read_bytes(2000).size(), 1004u);
}

TEST_F(EpollBackendTest, LargeFileReachesASlowReader) {
  constexpr std::size_t kSize = 4 << 20;
  const int fd = temp_file(kSize);
  script_.open = [this, fd](core::Channel&) { session_->send("H", "B", {fd, 0, kSize}); };
  script_.sent = [](core::Channel& c, int, std::uint64_t) { c.close(); };
  connect_client(16384);
  std::this_thread::sleep_for(200ms);  // the socket fills: sendfile says EAGAIN
  const std::string got = read_bytes(kSize + 2);
  ASSERT_EQ(got.size(), kSize + 2);
  EXPECT_EQ(got.substr(0, 4), "HBab");
  EXPECT_EQ(got.back(), static_cast<char>('a' + (kSize - 1) % 26));
  EXPECT_TRUE(record_.wait_for("sent 0 " + std::to_string(kSize + 2)));
  EXPECT_EQ(read_bytes(1), "");  // lingering close: FIN after the file
}

// A file on the disk (not tmpfs) dropped from the page cache; -1 where that cannot be done.
int evicted_file(std::size_t size, std::string& content) {
  char path[] = "/var/tmp/iocomp-epoll-warm-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::unlink(path);
  content.assign(size, '\0');
  for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>('A' + i % 23);
  if (::write(fd, content.data(), size) != static_cast<ssize_t>(size) || ::fdatasync(fd) != 0 ||
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0 || !fs::page_cache_probe_available() ||
      fs::range_cached(fd, 0, size)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(EpollBackendTest, WarmAnswersOnceTheRangeIsCachedNeverInsideTheCall) {
  std::string content;
  const int fd = evicted_file(2u << 20, content);
  if (fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  bool cached_when_warmed = false;
  script_.receive = [&](core::Channel&, std::string_view) { session_->warm(fd, 4096, 1u << 20); };
  script_.warmed = [&](core::Channel& c) {
    cached_when_warmed = fs::range_cached(fd, 4096, 1u << 20);
    session_->send("ok\n", {}, {});
    (void)c;
  };
  connect_client();
  write_all("x");
  ASSERT_TRUE(record_.wait_for("warmed"));
  EXPECT_EQ(read_bytes(3), "ok\n");
  EXPECT_TRUE(cached_when_warmed) << "on_warmed before the range was in (or after the 1 s give-up)";
  ::close(fd);
}

TEST_F(EpollBackendTest, EvictedFileIsSentByteExact) {
  std::string content;
  const int fd = evicted_file(3u << 20, content);
  if (fd < 0) GTEST_SKIP() << "no file could be evicted from the page cache here";
  script_.receive = [&](core::Channel&, std::string_view) {
    session_->send("head\n", {}, {fd, 100, content.size() - 100});
  };
  connect_client();
  write_all("x");
  EXPECT_EQ(read_bytes(5 + content.size() - 100), "head\n" + content.substr(100));
  EXPECT_TRUE(record_.wait_for("sent 0 " + std::to_string(5 + content.size() - 100)));
  ::close(fd);
}

TEST_F(EpollBackendTest, WarmPastTheEndOfAShrunkFileAnswersAtOnce) {
  const int fd = temp_file(1000);
  std::chrono::steady_clock::time_point asked;
  script_.receive = [&](core::Channel&, std::string_view) {
    asked = std::chrono::steady_clock::now();
    session_->warm(fd, 0, 1u << 20);  // the file has 1,000 bytes: the rest is never cached
  };
  connect_client();
  write_all("x");
  ASSERT_TRUE(record_.wait_for("warmed"));
  // Not the 1 s give-up: the range is cut to the file's end.
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 500ms);
}

}  // namespace
}  // namespace iocomp::epoll
