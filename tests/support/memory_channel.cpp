#include "memory_channel.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

namespace iocomp::test_support {
namespace {

const char* name(core::TimerKind kind) {
  switch (kind) {
    case core::TimerKind::header:
      return "header";
    case core::TimerKind::idle:
      return "idle";
    case core::TimerKind::pace:
      return "pace";
    default:
      return "none";
  }
}

// The file range's bytes as sendfile would send them; fails the test when the file is shorter
// (a test that means a shrinking file says so with fail_send(kFileShrank)).
std::string read_range(const core::FileRange& file) {
  std::string out(static_cast<std::size_t>(file.length), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(file.fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(file.offset + done));
    if (n <= 0) {
      ADD_FAILURE() << "MemoryChannel: the file range could not be read (fd " << file.fd
                    << "): was the descriptor closed before on_sent?";
      out.resize(done);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace

bool MemoryChannel::may_call(const char* what) {
  if (handler_ == nullptr) {
    ADD_FAILURE() << "MemoryChannel: " << what << " before attach()";
    return false;
  }
  if (in_handler_) {
    // This is how "on_sent is never called from inside send()" is kept: no engine event is
    // delivered while the handler is running.
    ADD_FAILURE() << "MemoryChannel: " << what << " from inside a handler call";
    return false;
  }
  if (closed_) {
    ADD_FAILURE() << "MemoryChannel: " << what << " after close(): the engine calls nothing then";
    return false;
  }
  return true;
}

template <typename Fn>
void MemoryChannel::call(Fn&& fn) {
  in_handler_ = true;
  std::forward<Fn>(fn)();
  in_handler_ = false;
}

void MemoryChannel::open() {
  if (!may_call("open()")) return;
  if (opened_) {
    ADD_FAILURE() << "MemoryChannel: open() twice";
    return;
  }
  opened_ = true;
  call([&] { handler_->on_open(); });
}

void MemoryChannel::deliver(std::string_view bytes) {
  if (!may_call("deliver()")) return;
  if (!receive_pending_) {
    ADD_FAILURE() << "MemoryChannel: deliver() without a pending receive (the handler did not "
                     "ask for bytes)";
    return;
  }
  if (bytes.empty()) {
    ADD_FAILURE() << "MemoryChannel: deliver() of no bytes: use end_stream()";
    return;
  }
  receive_pending_ = false;
  // An exact-size buffer, gone after the call as the engine recycles its receive buffer.
  auto buffer = std::make_unique<char[]>(bytes.size());
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  call([&] { handler_->on_receive(std::string_view(buffer.get(), bytes.size())); });
}

void MemoryChannel::deliver_in_chunks(std::string_view bytes, std::size_t chunk) {
  chunk = std::max<std::size_t>(chunk, 1);
  while (!bytes.empty() && !closed_) {
    complete_sends();
    if (closed_) break;
    deliver(bytes.substr(0, chunk));
    bytes.remove_prefix(std::min(chunk, bytes.size()));
  }
}

void MemoryChannel::end_stream(int error) {
  if (!may_call("end_stream()")) return;
  if (!receive_pending_) {
    ADD_FAILURE() << "MemoryChannel: end_stream() without a pending receive";
    return;
  }
  receive_pending_ = false;
  call([&] { handler_->on_receive_end(error); });
}

void MemoryChannel::complete_send() {
  if (!may_call("complete_send()")) return;
  if (!send_) {
    ADD_FAILURE() << "MemoryChannel: complete_send() with no send outstanding";
    return;
  }
  Send s = std::move(*send_);
  send_.reset();
  std::string bytes(s.head);
  bytes.append(s.body);
  if (bytes != s.copy) {
    ADD_FAILURE() << "MemoryChannel: head or body changed between send() and on_sent";
  }
  output_.append(bytes);
  output_.append(read_range(s.file));
  call([&] { handler_->on_sent(0, s.size()); });
}

void MemoryChannel::fail_send(int error, std::uint64_t bytes) {
  if (!may_call("fail_send()")) return;
  if (!send_) {
    ADD_FAILURE() << "MemoryChannel: fail_send() with no send outstanding";
    return;
  }
  if (error >= 0 || bytes > send_->size()) {
    ADD_FAILURE() << "MemoryChannel: fail_send() needs a negative error and at most the size";
    return;
  }
  Send s = std::move(*send_);
  send_.reset();
  std::string sent = s.copy;
  if (bytes > sent.size()) sent += read_range(s.file);
  sent.resize(static_cast<std::size_t>(bytes));
  output_.append(sent);
  call([&] { handler_->on_sent(error, bytes); });
}

std::size_t MemoryChannel::complete_sends() {
  std::size_t n = 0;
  while (send_ && !closed_) {
    complete_send();
    ++n;
  }
  return n;
}

void MemoryChannel::fire_timer() {
  if (!may_call("fire_timer()")) return;
  const core::TimerKind kind = timer_;
  if (kind == core::TimerKind::none) {
    ADD_FAILURE() << "MemoryChannel: fire_timer() with no protocol timer armed";
    return;
  }
  timer_ = core::TimerKind::none;  // the engine disarms, then reports
  call([&] { handler_->on_timeout(kind); });
}

void MemoryChannel::complete_warm() {
  if (!may_call("complete_warm()")) return;
  if (!warm_) {
    ADD_FAILURE() << "MemoryChannel: complete_warm() with no warm outstanding";
    return;
  }
  warm_.reset();
  call([&] { handler_->on_warmed(); });
}

void MemoryChannel::drain() {
  if (!may_call("drain()")) return;
  if (draining_) {
    ADD_FAILURE() << "MemoryChannel: drain() twice";
    return;
  }
  draining_ = true;
  call([&] { handler_->on_drain(); });
}

std::string MemoryChannel::take_output() {
  return std::exchange(output_, std::string());
}

bool MemoryChannel::move_admission(std::string_view address_key) {
  if (closed_) {
    ADD_FAILURE() << "MemoryChannel contract: move_admission() after close()";
    return false;
  }
  admission_moves_.emplace_back(address_key);
  return admission_result_;
}

void MemoryChannel::receive() {
  if (closed_) {
    ADD_FAILURE() << "MemoryChannel contract: receive() after close()";
    return;
  }
  receive_pending_ = true;  // a second call while pending is a no-op
}

void MemoryChannel::send(std::string_view head, std::string_view body, core::FileRange file) {
  if (closed_) {
    ADD_FAILURE() << "MemoryChannel contract: send() after close()";
    return;
  }
  if (send_) {
    ADD_FAILURE() << "MemoryChannel contract: send() while a send is outstanding (one at a time)";
    return;
  }
  if (file.length > 0) {
    struct stat st {};
    if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ADD_FAILURE() << "MemoryChannel contract: the file range's fd " << file.fd
                    << " is not an open regular file";
    } else if (const auto size = static_cast<std::uint64_t>(st.st_size);
               file.offset > size || file.length > size - file.offset) {
      ADD_FAILURE() << "MemoryChannel contract: file range [" << file.offset << ", +" << file.length
                    << ") lies beyond the file's " << size << " bytes";
    }
  }
  std::string copy(head);
  copy.append(body);
  send_ = Send{head, body, file, std::move(copy)};
  ++sends_started_;
  timer_ = core::TimerKind::none;  // the engine's send timer takes the connection's slot
}

void MemoryChannel::close() {
  closed_ = true;  // idempotent
  receive_pending_ = false;
  timer_ = core::TimerKind::none;
}

void MemoryChannel::warm(int fd, std::uint64_t offset, std::uint64_t length) {
  if (closed_) {
    ADD_FAILURE() << "MemoryChannel contract: warm() after close()";
    return;
  }
  if (warm_) ADD_FAILURE() << "MemoryChannel contract: warm() while another is outstanding";
  if (send_) ADD_FAILURE() << "MemoryChannel contract: warm() during a send";
  if (fd < 0) ADD_FAILURE() << "MemoryChannel contract: warm() of no file";
  ++warms_asked_;
  warm_ = Warm{fd, offset, length};
}

bool MemoryChannel::start_kernel_tls(std::string_view crypto_info) {
  if (closed_) ADD_FAILURE() << "MemoryChannel contract: start_kernel_tls() after close()";
  if (send_) ADD_FAILURE() << "MemoryChannel contract: start_kernel_tls() during a send";
  kernel_tls_info_.assign(crypto_info);
  return kernel_tls_result_;
}

void MemoryChannel::set_timer(core::TimerKind kind) {
  if (closed_) return;  // the engine ignores it
  timer_calls_.push_back(kind);
  if (send_) {
    ADD_FAILURE() << "MemoryChannel contract: set_timer(" << name(kind)
                  << ") during a send would replace the send timer";
  }
  if (kind != core::TimerKind::none && kind == timer_) {
    // Re-arming a running timer restarts its period: a client trickling bytes lives forever.
    ADD_FAILURE() << "MemoryChannel contract: the " << name(kind) << " timer re-armed while armed";
  }
  timer_ = kind;
}

}  // namespace iocomp::test_support
