// Socket activation: which LISTEN_* values mean "a socket for this process", which descriptors are
// taken as the listening socket, and what the descriptor looks like afterwards.
#include "core/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

namespace iocomp::core {
namespace {

// A loopback TCP socket on a free port, listening unless `listen` is false; blocking and
// inheritable, as a service manager passes it.
int tcp_socket(int type = SOCK_STREAM, bool listen = true) {
  const int fd = ::socket(AF_INET, type, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  if (listen) {
    EXPECT_EQ(::listen(fd, 16), 0);
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t len = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len);
  return ntohs(address.sin_port);
}

std::string error_of(int fd) {
  try {
    adopt_listener(fd);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ActivatedSocketCount, NoneWithoutBothVariables) {
  EXPECT_EQ(activated_socket_count(nullptr, nullptr, 42), 0);
  EXPECT_EQ(activated_socket_count("42", nullptr, 42), 0);
  EXPECT_EQ(activated_socket_count(nullptr, "1", 42), 0);
}

TEST(ActivatedSocketCount, NoneWhenTheVariablesNameAnotherProcess) {
  EXPECT_EQ(activated_socket_count("41", "1", 42), 0);
}

TEST(ActivatedSocketCount, TheCountForThisProcess) {
  EXPECT_EQ(activated_socket_count("42", "1", 42), 1);
  EXPECT_EQ(activated_socket_count("42", "0", 42), 0);
  EXPECT_EQ(activated_socket_count("42", "2", 42), 2);
}

TEST(ActivatedSocketCount, ValuesThatAreNotWholeNumbersAreErrors) {
  EXPECT_THROW(activated_socket_count("42x", "1", 42), std::runtime_error);
  EXPECT_THROW(activated_socket_count("", "1", 42), std::runtime_error);
  EXPECT_THROW(activated_socket_count("42", "-1", 42), std::runtime_error);
  EXPECT_THROW(activated_socket_count("42", " 1", 42), std::runtime_error);
  EXPECT_THROW(activated_socket_count("42", "100000", 42), std::runtime_error);
}

TEST(AdoptListener, TakesAListeningTcpSocketAndMakesItNonBlockingAndCloseOnExec) {
  const int fd = tcp_socket();
  const BoundListener listener = adopt_listener(fd);
  EXPECT_EQ(listener.fd, fd);
  EXPECT_TRUE(listener.activated);
  EXPECT_EQ(listener.port, local_port(fd));
  EXPECT_EQ(listener.display, "127.0.0.1:" + std::to_string(local_port(fd)));
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ::close(fd);
}

TEST(AdoptListener, RefusesABoundSocketThatDoesNotListen) {
  const int fd = tcp_socket(SOCK_STREAM, false);
  EXPECT_NE(error_of(fd).find("not listening"), std::string::npos) << error_of(fd);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);  // left as it was
  ::close(fd);
}

TEST(AdoptListener, RefusesADatagramSocket) {
  const int fd = tcp_socket(SOCK_DGRAM, false);
  EXPECT_NE(error_of(fd).find("not a stream socket"), std::string::npos) << error_of(fd);
  ::close(fd);
}

TEST(AdoptListener, RefusesAListeningUnixSocket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // An abstract name (leading NUL): nothing to remove from the file system afterwards.
  const std::string name = "iocomp-listener-test-" + std::to_string(::getpid());
  name.copy(address.sun_path + 1, sizeof address.sun_path - 2);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_NE(error_of(fd).find("not a TCP/IP socket"), std::string::npos) << error_of(fd);
  ::close(fd);
}

TEST(AdoptListener, RefusesAPipeAndAClosedDescriptor) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_NE(error_of(pipe_fds[0]).find("is not a socket"), std::string::npos);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_NE(error_of(pipe_fds[0]).find("is not a socket"), std::string::npos);
}

// take_activated_listener reads the real environment and descriptor 3: the fixture puts back
// whatever the test process had there.
class TakeActivatedListener : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_fd3_ = ::fcntl(kFirstActivatedFd, F_DUPFD_CLOEXEC, 10);  // -1 when 3 was not open
  }
  void TearDown() override {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (saved_fd3_ >= 0) {
      ::dup2(saved_fd3_, kFirstActivatedFd);
      ::close(saved_fd3_);
    } else {
      ::close(kFirstActivatedFd);
    }
  }
  // Moves `fd` to descriptor 3 (where socket() itself puts it when 3 is free).
  static void move_to_fd3(int fd) {
    if (fd == kFirstActivatedFd) return;
    ASSERT_EQ(::dup2(fd, kFirstActivatedFd), kFirstActivatedFd);
    ::close(fd);
  }
  // Puts a listening socket at descriptor 3; returns its port.
  static std::uint16_t listen_on_fd3() {
    move_to_fd3(tcp_socket());
    return local_port(kFirstActivatedFd);
  }
  static void set_environment(const std::string& pid, const std::string& fds) {
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", fds.c_str(), 1);
    ::setenv("LISTEN_FDNAMES", "iocomp.socket", 1);
  }
  static bool environment_cleared() {
    return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
           std::getenv("LISTEN_FDNAMES") == nullptr;
  }

 private:
  int saved_fd3_ = -1;
};

TEST_F(TakeActivatedListener, TakesDescriptor3AndClearsTheEnvironment) {
  const std::uint16_t port = listen_on_fd3();
  set_environment(std::to_string(::getpid()), "1");
  const std::optional<BoundListener> listener = take_activated_listener();
  ASSERT_TRUE(listener.has_value());
  EXPECT_EQ(listener->fd, kFirstActivatedFd);
  EXPECT_EQ(listener->port, port);
  EXPECT_TRUE(listener->activated);
  EXPECT_TRUE(environment_cleared());
}

TEST_F(TakeActivatedListener, NothingWithoutTheVariables) {
  listen_on_fd3();
  EXPECT_FALSE(take_activated_listener().has_value());
}

TEST_F(TakeActivatedListener, VariablesForAnotherProcessAreDroppedAndDescriptor3IsLeftAlone) {
  listen_on_fd3();
  set_environment(std::to_string(::getpid() + 1), "1");
  EXPECT_FALSE(take_activated_listener().has_value());
  EXPECT_TRUE(environment_cleared());
  const int flags = ::fcntl(kFirstActivatedFd, F_GETFL);
  ASSERT_GE(flags, 0);
  EXPECT_EQ(flags & O_NONBLOCK, 0);
}

TEST_F(TakeActivatedListener, MoreThanOneSocketIsAnError) {
  listen_on_fd3();
  set_environment(std::to_string(::getpid()), "2");
  try {
    take_activated_listener();
    ADD_FAILURE() << "two sockets were accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("2 sockets passed"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(environment_cleared());
}

TEST_F(TakeActivatedListener, ANonListeningDescriptor3IsAnError) {
  move_to_fd3(tcp_socket(SOCK_STREAM, false));
  set_environment(std::to_string(::getpid()), "1");
  EXPECT_THROW(take_activated_listener(), std::runtime_error);
}

}  // namespace
}  // namespace iocomp::core
