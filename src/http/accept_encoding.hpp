#pragma once
// Accept-Encoding (RFC 9110 section 12.5.3) for choosing a pre-compressed file. Pure.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace iocomp::http {

// The codings the server can send from a file beside the requested one, in the server's order
// of preference (smallest output first) for equal q-values.
enum class Coding : std::uint8_t { br, zstd, gzip };
inline constexpr std::size_t kCodingCount = 3;

// The Content-Encoding token ("br", "zstd", "gzip").
std::string_view coding_token(Coding coding);
// The file-name suffix of the pre-compressed file (".br", ".zst", ".gz").
std::string_view coding_suffix(Coding coding);

// Bit (1 << Coding) set for each coding available for the requested file.
using CodingMask = unsigned;
constexpr CodingMask coding_bit(Coding coding) {
  return 1u << static_cast<unsigned>(coding);
}

// The coding to send, or nullopt for the identity (unencoded) file. `accept_encoding` is the
// field value ("" when the field is absent: the identity is sent, as most clients that send no
// field, wget among them, do not decode). Codings are case-insensitive; "*" stands for the
// codings not listed; q=0 excludes; "x-gzip" is "gzip". An available coding is chosen when its
// q-value is positive and not below the identity's (the identity counts as the lowest positive
// q-value unless listed itself, explicitly or through "*"); among equal q-values the server
// order above decides. Malformed elements are ignored, never an error.
std::optional<Coding> choose_coding(std::string_view accept_encoding, CodingMask available);

}  // namespace iocomp::http
