#include "backends/iocp/iocp_acceptor.hpp"

#include <winternl.h>
#include <ws2tcpip.h>

#include <atomic>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "core/admission.hpp"
#include "core/backend.hpp"
#include "core/incoming.hpp"
#include "core/listener.hpp"
#include "log/event_log.hpp"
#include "log/log_sink.hpp"
#include "platform/socket.hpp"
#include "platform/windows/text.hpp"
#include "util/monotonic_clock.hpp"

namespace iocomp::iocp {
namespace {

enum class AcceptorKey : ULONG_PTR {
  accept = 1,   // an AcceptEx completed: lpOverlapped is a Slot
  control = 2,  // the console control handler: the event's type in the byte count
  stopped = 3,  // the backend has stopped
};

// AcceptEx writes each address with 16 bytes to spare.
constexpr DWORD kAddressSpace = sizeof(sockaddr_storage) + 16;

// The console control handler runs on a thread of its own: it only posts to the acceptor's
// port (one acceptor per process), and for a closing console waits until the drain is over,
// because returning from that event ends the process.
std::atomic<HANDLE> g_control_port{nullptr};
std::atomic<bool> g_stopped{false};
std::atomic<int> g_drain_wait_ms{3000};

BOOL WINAPI on_console_control(DWORD control) {
  const HANDLE port = g_control_port.load();
  if (port == nullptr) return FALSE;
  ::PostQueuedCompletionStatus(port, control, static_cast<ULONG_PTR>(AcceptorKey::control),
                               nullptr);
  if (control == CTRL_CLOSE_EVENT || control == CTRL_LOGOFF_EVENT ||
      control == CTRL_SHUTDOWN_EVENT) {
    for (int waited = 0; !g_stopped.load() && waited < g_drain_wait_ms.load() + 1000;
         waited += 50) {
      ::Sleep(50);
    }
  }
  return TRUE;
}

std::string_view control_name(DWORD control) {
  switch (control) {
    case CTRL_C_EVENT:
      return "SIGINT (Ctrl+C)";
    case CTRL_BREAK_EVENT:
      return "SIGBREAK (Ctrl+Break)";
    case CTRL_CLOSE_EVENT:
      return "console close";
    default:
      return "logoff or system shutdown";
  }
}

}  // namespace

struct IocpAcceptor::Slot {
  OVERLAPPED overlapped{};  // first: a completion's lpOverlapped is the slot
  SOCKET socket = INVALID_SOCKET;
  bool pending = false;
  char addresses[2 * kAddressSpace] = {};
};

IocpAcceptor::IocpAcceptor(SOCKET listen_socket, const SocketExtensions& extensions,
                           core::AdmissionControl& admission, const AcceptorConfig& config,
                           log::LogSink* sink)
    : listen_socket_(listen_socket),
      extensions_(extensions),
      admission_(admission),
      config_(config),
      sink_(sink) {
  sockaddr_storage bound{};
  int length = sizeof bound;
  if (::getsockname(listen_socket_, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    family_ = bound.ss_family;
  }
  port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
  if (port_ == nullptr ||
      ::CreateIoCompletionPort(reinterpret_cast<HANDLE>(listen_socket_), port_,
                               static_cast<ULONG_PTR>(AcceptorKey::accept), 0) == nullptr) {
    throw std::runtime_error(
        fmt::format("completion port: {}", platform::win32_message(::GetLastError())));
  }
  for (int i = 0; i < config_.posted_accepts; ++i) slots_.push_back(std::make_unique<Slot>());
  g_drain_wait_ms = config_.drain_timeout_ms;
  g_control_port = port_;
  if (!::SetConsoleCtrlHandler(on_console_control, TRUE)) {
    throw std::runtime_error(
        fmt::format("SetConsoleCtrlHandler: {}", platform::win32_message(::GetLastError())));
  }
}

IocpAcceptor::~IocpAcceptor() {
  ::SetConsoleCtrlHandler(on_console_control, FALSE);
  g_control_port = nullptr;
  if (pending_ > 0) {
    // An AcceptEx never reported back: the kernel may still write into its slot, which is
    // therefore left allocated (the process is ending).
    for (auto& slot : slots_) {
      if (slot->pending) static_cast<void>(slot.release());
    }
  }
  for (auto& slot : slots_) {
    if (slot && slot->socket != INVALID_SOCKET) ::closesocket(slot->socket);
  }
  if (listen_socket_ != INVALID_SOCKET) ::closesocket(listen_socket_);
  ::CloseHandle(port_);
}

void IocpAcceptor::notify_stopped() {
  g_stopped = true;
  while (!::PostQueuedCompletionStatus(port_, 0, static_cast<ULONG_PTR>(AcceptorKey::stopped),
                                       nullptr)) {
    ::Sleep(10);
  }
}

void IocpAcceptor::say(std::string_view line) {
  if (sink_ == nullptr) return;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char stamp[log::kTimestampLength];
  log::format_timestamp(now, stamp);
  try {
    sink_->write_now(fmt::format("{} {}\n", std::string_view(stamp, sizeof stamp), line));
  } catch (const std::bad_alloc&) {
  }
}

void IocpAcceptor::post_accept(Slot& slot) {
  for (;;) {
    slot.socket = ::WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                               WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (slot.socket == INVALID_SOCKET) break;
    slot.overlapped = {};
    DWORD received = 0;
    // No data is awaited with the accept (a receive length of 0): a client that connects and
    // sends nothing must not hold an accept, and admission decides before any byte is read.
    if (extensions_.accept_ex(listen_socket_, slot.socket, slot.addresses, 0, kAddressSpace,
                              kAddressSpace, &received, &slot.overlapped) ||
        ::WSAGetLastError() == ERROR_IO_PENDING) {
      slot.pending = true;
      ++pending_;
      return;
    }
    const int error = ::WSAGetLastError();
    ::closesocket(slot.socket);
    slot.socket = INVALID_SOCKET;
    // A client that gave up before its accept: the next one.
    if (error != WSAECONNRESET) {
      ::WSASetLastError(error);
      break;
    }
  }
  const int error = ::WSAGetLastError();
  // Out of sockets or memory: this slot waits, and the acceptor never spins on accepts.
  say(fmt::format("- accept: {}; pausing accepts for {} ms", platform::win32_message(error),
                  config_.accept_backoff_ms));
  paused_until_ms_ = util::monotonic_ms() + config_.accept_backoff_ms;
}

void IocpAcceptor::on_accept(Slot& slot, DWORD error) {
  slot.pending = false;
  --pending_;
  const SOCKET socket = slot.socket;
  slot.socket = INVALID_SOCKET;
  if (error != 0 || shutting_down_) {
    ::closesocket(socket);
    if (!shutting_down_) post_accept(slot);
    return;
  }
  // The accepted socket takes the listener's properties (getpeername, shutdown work on it).
  if (::setsockopt(socket, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   reinterpret_cast<const char*>(&listen_socket_), sizeof listen_socket_) != 0) {
    ::closesocket(socket);
    post_accept(slot);
    return;
  }
  sockaddr* local = nullptr;
  sockaddr* remote = nullptr;
  int local_length = 0;
  int remote_length = 0;
  extensions_.get_accept_ex_sockaddrs(slot.addresses, 0, kAddressSpace, kAddressSpace, &local,
                                      &local_length, &remote, &remote_length);
  sockaddr_storage peer{};
  if (remote != nullptr && remote_length > 0 &&
      static_cast<std::size_t>(remote_length) <= sizeof peer) {
    std::memcpy(&peer, remote, static_cast<std::size_t>(remote_length));
  }
  post_accept(slot);  // the next client need not wait for this one's admission
  try {
    auto incoming = std::make_unique<core::IncomingConnection>();
    incoming->fd = platform::from_socket(socket);
    incoming->peer = peer;
    incoming->address_key = core::AdmissionControl::address_key(peer);
    const core::Admission verdict = admission_.admit(incoming->address_key);
    if (verdict != core::Admission::admitted) {
      ::closesocket(socket);
      const bool total = verdict == core::Admission::too_many_connections;
      const unsigned long n = total ? refused_total_++ : refused_address_++;
      if (n % 1000 == 0) {
        say(fmt::format(
            "{} connection refused: {} ({} refused so far)", core::format_socket_address(&peer),
            total ? "--max-connections reached" : "--max-connections-per-ip reached", n + 1));
      }
      return;
    }
    backend_->adopt(std::move(incoming));
  } catch (const std::bad_alloc&) {
    ::closesocket(socket);  // out of memory: refuse this connection, keep serving the others
  }
}

void IocpAcceptor::begin_shutdown(DWORD control) {
  shutting_down_ = true;
  say(fmt::format(
      "- received {}: no new connections; draining transfers for up to the drain timeout",
      control_name(control)));
  // Stop listening now: a client connecting during the drain is refused at once. The pending
  // AcceptEx calls complete as cancelled; their slots are freed once they have.
  ::CancelIoEx(reinterpret_cast<HANDLE>(listen_socket_), nullptr);
  ::closesocket(listen_socket_);
  listen_socket_ = INVALID_SOCKET;
  backend_->stop();
}

void IocpAcceptor::on_control(DWORD control) {
  if (shutting_down_) {
    if (control == CTRL_C_EVENT || control == CTRL_BREAK_EVENT) {
      say("- second signal: exiting now");
      ::_exit(130);  // 128 + SIGINT, as on Linux
    }
    return;
  }
  begin_shutdown(control);
}

void IocpAcceptor::run(core::Backend& backend) {
  backend_ = &backend;
  for (auto& slot : slots_) post_accept(*slot);
  OVERLAPPED_ENTRY entries[16];
  std::int64_t stopped_at_ms = 0;
  for (;;) {
    // Done when the backend has stopped and every AcceptEx reported back (a cancelled one that
    // never reports is given 2 s).
    if (stopped_ && (pending_ == 0 || util::monotonic_ms() - stopped_at_ms > 2000)) return;
    DWORD timeout = INFINITE;
    if (stopped_) {
      timeout = 100;
    } else if (!shutting_down_ && paused_until_ms_ > 0) {
      const std::int64_t left = paused_until_ms_ - util::monotonic_ms();
      if (left <= 0) {
        paused_until_ms_ = 0;
        for (auto& slot : slots_) {
          if (!slot->pending) post_accept(*slot);
        }
        continue;
      }
      timeout = static_cast<DWORD>(left);
    }
    ULONG count = 0;
    if (!::GetQueuedCompletionStatusEx(port_, entries, 16, &count, timeout, FALSE)) count = 0;
    for (ULONG i = 0; i < count; ++i) {
      const OVERLAPPED_ENTRY& entry = entries[i];
      switch (static_cast<AcceptorKey>(entry.lpCompletionKey)) {
        case AcceptorKey::accept: {
          // The operation's NTSTATUS is in its OVERLAPPED (an IO_STATUS_BLOCK underneath).
          const auto status = static_cast<NTSTATUS>(entry.lpOverlapped->Internal);
          DWORD error = 0;
          if (status != 0) {
            error = ::RtlNtStatusToDosError(status);
            if (error == 0) error = ERROR_GEN_FAILURE;
          }
          on_accept(*reinterpret_cast<Slot*>(entry.lpOverlapped), error);
          break;
        }
        case AcceptorKey::control:
          on_control(entry.dwNumberOfBytesTransferred);
          break;
        case AcceptorKey::stopped:
          stopped_ = true;
          stopped_at_ms = util::monotonic_ms();
          break;
      }
    }
  }
}

}  // namespace iocomp::iocp
