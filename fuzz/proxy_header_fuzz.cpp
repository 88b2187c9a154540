// libFuzzer harness for the PROXY protocol header parser and the --proxy-from list parser. Any
// invariant violation aborts.
//
// Input layout: byte 0 selects what is fuzzed (bit 7 set: the --proxy-from list parser) and the
// v2 size cap; byte 1 seeds the split points; the rest is the first bytes of a connection (or
// the text of --proxy-from).
#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "proxy/cidr.hpp"
#include "proxy/proxy_header.hpp"

namespace {

using iocomp::proxy::Command;
using iocomp::proxy::Family;
using iocomp::proxy::Header;
using iocomp::proxy::Limits;
using iocomp::proxy::parse_header;
using iocomp::proxy::Status;

std::size_t choose_cap(std::uint8_t selector) {
  // Small caps reach their boundary with short inputs: 28 fits IPv4 addresses alone, 52 IPv6.
  static constexpr std::size_t kCaps[] = {iocomp::proxy::kDefaultMaxV2Bytes, 28, 52, 300};
  return kCaps[selector % 4];
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The reason given for an invalid header may name the first fault the bytes so far showed:
// it is not compared.
bool same_verdict(const Header& a, const Header& b) {
  return a.status == b.status && a.consumed == b.consumed && a.version == b.version &&
         a.command == b.command && a.family == b.family && same_address(a.source, b.source) &&
         same_address(a.destination, b.destination);
}

void check_header(const Header& h, std::string_view input, std::size_t cap) {
  switch (h.status) {
    case Status::need_more:
      FUZZ_CHECK(h.error.empty() && h.consumed == 0);
      // What a connection may make the stage buffer: bounded by the caps.
      FUZZ_CHECK(input.size() < std::max(iocomp::proxy::kV1MaxBytes, cap));
      return;
    case Status::invalid:
      FUZZ_CHECK(!h.error.empty() && h.consumed == 0);
      return;
    case Status::complete:
      break;
  }
  FUZZ_CHECK(h.error.empty());
  FUZZ_CHECK(h.consumed > 0 && h.consumed <= input.size());
  FUZZ_CHECK(h.version == 1 || h.version == 2);
  if (h.version == 1) {
    FUZZ_CHECK(h.consumed <= iocomp::proxy::kV1MaxBytes);
    FUZZ_CHECK(input.substr(0, 6) == "PROXY ");
    FUZZ_CHECK(input.substr(h.consumed - 2, 2) == "\r\n");
    FUZZ_CHECK(input.substr(0, h.consumed - 1).find('\n') == std::string_view::npos);
    FUZZ_CHECK(h.command == Command::proxy);
  } else {
    FUZZ_CHECK(h.consumed >= iocomp::proxy::kV2FixedBytes && h.consumed <= cap);
  }
  if (h.command == Command::local) FUZZ_CHECK(h.family == Family::unknown);
  switch (h.family) {
    case Family::unknown:
      FUZZ_CHECK(h.source.ss_family == 0 && h.destination.ss_family == 0);
      break;
    case Family::inet:
      FUZZ_CHECK(h.source.ss_family == AF_INET && h.destination.ss_family == AF_INET);
      break;
    case Family::inet6:
      FUZZ_CHECK(h.source.ss_family == AF_INET6 && h.destination.ss_family == AF_INET6);
      break;
  }
  if (h.version == 1 && h.family == Family::inet) {
    // Strict dotted quads are canonical: the text sent is the text inet_ntop gives back.
    char text[INET_ADDRSTRLEN] = {};
    const auto& in = reinterpret_cast<const sockaddr_in&>(h.source);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    const std::string_view fields = input.substr(11);
    FUZZ_CHECK(fields.substr(0, fields.find(' ')) == text);
  }
  // The verdict is reached exactly at the header's end.
  const Header exact = parse_header(input.substr(0, h.consumed), Limits{cap});
  FUZZ_CHECK(same_verdict(exact, h));
  FUZZ_CHECK(parse_header(input.substr(0, h.consumed - 1), Limits{cap}).status ==
             Status::need_more);
}

void fuzz_header(std::string_view stream, std::size_t cap, std::uint8_t seed) {
  const Header whole = parse_header(stream, Limits{cap});
  check_header(whole, stream, cap);
  // Bytes arriving in pieces: every verdict on a prefix is the verdict on the whole.
  iocomp::fuzz::Splitter splitter(seed, 64);
  std::size_t received = 0;
  while (received < stream.size()) {
    received = std::min(stream.size(), received + splitter.next_chunk());
    const std::string_view prefix = stream.substr(0, received);
    const Header h = parse_header(prefix, Limits{cap});
    check_header(h, prefix, cap);
    if (h.status != Status::need_more) {
      FUZZ_CHECK(same_verdict(h, whole));
      return;
    }
  }
  FUZZ_CHECK(whole.status == Status::need_more);
}

void fuzz_cidr(std::string_view text) {
  std::string error;
  const std::optional<iocomp::proxy::CidrList> list = iocomp::proxy::CidrList::parse(text, error);
  if (!list) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(!list->blocks().empty());
  // The canonical text parses back to the same blocks.
  const std::string canonical = list->to_string();
  const std::optional<iocomp::proxy::CidrList> again =
      iocomp::proxy::CidrList::parse(canonical, error);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->to_string() == canonical);
  for (const iocomp::proxy::CidrBlock& block : list->blocks()) {
    FUZZ_CHECK(block.prefix <= 128 && (!block.ipv4 || block.prefix >= 96));
    FUZZ_CHECK(block.contains(block.network));
    FUZZ_CHECK(list->contains(block.network) && again->contains(block.network));
    // The last address of the block is inside it; the one past it (if any) only by another.
    iocomp::proxy::IpAddress last = block.network;
    for (unsigned bit = block.prefix; bit < 128; ++bit) {
      last[bit / 8] = static_cast<std::uint8_t>(last[bit / 8] | (0x80 >> (bit % 8)));
    }
    FUZZ_CHECK(block.contains(last));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  if ((data[0] & 0x80) != 0) {
    fuzz_cidr(stream);
  } else {
    fuzz_header(stream, choose_cap(data[0]), data[1]);
  }
  return 0;
}
