#include "server/listing_body.hpp"

#include <algorithm>
#include <utility>

namespace iocomp::server {

ListingBody::ListingBody(fs::DirectoryReader reader, http::ListingFormat format,
                         std::string url_path, http::ListingOrder order, std::size_t cap)
    : reader_(std::move(reader)),
      format_(format),
      url_path_(std::move(url_path)),
      order_(order),
      cap_(cap) {}

void ListingBody::keep(fs::ListedEntry&& listed) {
  const auto before = [order = order_](const http::DirectoryEntry& a,
                                       const http::DirectoryEntry& b) {
    return http::listed_before(a, b, order);
  };
  http::DirectoryEntry entry{std::move(listed.name), listed.is_directory, listed.size,
                             listed.modified};
  if (kept_.size() < cap_) {
    // Grow by doubling, but never past the cap: the vector is most of the listing's memory.
    if (kept_.size() == kept_.capacity()) {
      kept_.reserve(std::min(cap_, std::max<std::size_t>(64, 2 * kept_.capacity())));
    }
    kept_.push_back(std::move(entry));
    std::push_heap(kept_.begin(), kept_.end(), before);
    return;
  }
  ++omitted_;
  if (kept_.empty() || !before(entry, kept_.front())) return;
  std::pop_heap(kept_.begin(), kept_.end(), before);
  kept_.back() = std::move(entry);
  std::push_heap(kept_.begin(), kept_.end(), before);
}

BodySource::Status ListingBody::next(std::string& out) {
  if (!renderer_) {
    batch_.clear();
    const fs::DirectoryReader::Status status = reader_->read(kEntriesPerCall, batch_);
    for (fs::ListedEntry& listed : batch_) keep(std::move(listed));
    if (status == fs::DirectoryReader::Status::error) return Status::failed;
    // No bytes yet: the caller comes back on a later loop turn, after other connections.
    if (status == fs::DirectoryReader::Status::more) return Status::more;
    reader_.reset();  // closes the directory
    std::vector<fs::ListedEntry>().swap(batch_);
    std::sort_heap(kept_.begin(), kept_.end(),
                   [order = order_](const http::DirectoryEntry& a, const http::DirectoryEntry& b) {
                     return http::listed_before(a, b, order);
                   });
    renderer_.emplace(format_, std::move(url_path_), order_, std::move(kept_), omitted_, cap_);
  }
  return renderer_->next(out, kPieceBytes) ? Status::more : Status::done;
}

}  // namespace iocomp::server
