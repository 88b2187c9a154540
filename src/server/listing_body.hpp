#pragma once
// The body of a directory listing, produced while it is sent: the directory is read a batch at
// a time, the first `cap` entries in the requested order are kept (a bounded heap), then the
// document is rendered a piece at a time. Memory is bounded by the cap, whatever the size of the
// directory, and no call does more than one batch of directory work or renders more than one
// piece, so a huge directory never stalls the worker's other connections for long.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/directory_reader.hpp"
#include "http/directory_listing.hpp"
#include "server/http_responder.hpp"

namespace iocomp::server {

class ListingBody final : public BodySource {
 public:
  // Directory entries examined per call (each an fstatat): about 0.3-0.6 ms of work.
  static constexpr std::size_t kEntriesPerCall = 256;
  // Bytes rendered per call; one row more at most.
  static constexpr std::size_t kPieceBytes = 32768;

  ListingBody(fs::DirectoryReader reader, http::ListingFormat format, std::string url_path,
              http::ListingOrder order, std::size_t cap);

  Status next(std::string& out) override;

 private:
  void keep(fs::ListedEntry&& listed);

  std::optional<fs::DirectoryReader> reader_;
  http::ListingFormat format_;
  std::string url_path_;
  http::ListingOrder order_;
  std::size_t cap_;
  std::vector<fs::ListedEntry> batch_;
  // While reading: a max-heap under listed_before, so its front is the entry that leaves first
  // when a better one arrives.
  std::vector<http::DirectoryEntry> kept_;
  std::uint64_t omitted_ = 0;
  std::optional<http::ListingRenderer> renderer_;
};

}  // namespace iocomp::server
