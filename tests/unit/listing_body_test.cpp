#include "server/listing_body.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

namespace iocomp::server {
namespace {

namespace stdfs = std::filesystem;

class ListingBodyTest : public ::testing::Test {
 protected:
  static constexpr int kFiles = 700;

  void SetUp() override {
    char pattern[] = "/tmp/iocomp-listingbody-XXXXXX";
    root_ = ::mkdtemp(pattern);
    stdfs::create_directories(root_ / "d" / "subdir");
    // Sizes and dates in an order unrelated to the names, with ties.
    for (int i = 0; i < kFiles; ++i) {
      const std::string path = (root_ / "d" / ("f" + std::to_string(i))).string();
      const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::ftruncate(fd, (i * 7919) % 1000), 0);
      const timespec times[2] = {{0, UTIME_OMIT}, {1600000000 + (i * 104729) % 5000, 0}};
      ASSERT_EQ(::futimens(fd, times), 0);
      ::close(fd);
    }
  }
  void TearDown() override { stdfs::remove_all(root_); }

  // The rows' names in document order, read through ListingBody with a cap.
  std::vector<std::string> listed(http::ListingOrder order, std::size_t cap, std::string& doc,
                                  std::size_t& calls) {
    const fs::FileRoot root(root_.string());
    auto dir = root.open("d");
    EXPECT_TRUE(std::holds_alternative<fs::OpenFile>(dir));
    auto reader = fs::DirectoryReader::open(root, std::get<fs::OpenFile>(dir), "d");
    EXPECT_TRUE(std::holds_alternative<fs::DirectoryReader>(reader));
    ListingBody body(std::get<fs::DirectoryReader>(std::move(reader)), http::ListingFormat::html,
                     "/d/", order, cap);
    doc.clear();
    calls = 0;
    for (;;) {
      std::string piece;
      const BodySource::Status status = body.next(piece);
      ++calls;
      EXPECT_LE(piece.size(), ListingBody::kPieceBytes + 4096);
      doc += piece;
      if (status != BodySource::Status::more || calls > 100000) {
        EXPECT_EQ(status, BodySource::Status::done);
        break;
      }
    }
    std::vector<std::string> names;
    for (std::size_t pos = doc.find("<tr><td class=\"n\"><a href=\""); pos != std::string::npos;
         pos = doc.find("<tr><td class=\"n\"><a href=\"", pos + 1)) {
      const std::size_t start = pos + 27;
      names.push_back(doc.substr(start, doc.find('"', start) - start));
    }
    if (!names.empty() && names.front() == "../") names.erase(names.begin());
    return names;
  }

  // The expected first `cap` names: everything stat'ed and fully sorted.
  std::vector<std::string> expected(http::ListingOrder order, std::size_t cap) {
    std::vector<http::DirectoryEntry> all;
    for (const auto& e : stdfs::directory_iterator(root_ / "d")) {
      struct stat st {};
      EXPECT_EQ(::stat(e.path().c_str(), &st), 0);
      all.push_back({e.path().filename().string(), S_ISDIR(st.st_mode),
                     static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec});
    }
    std::sort(all.begin(), all.end(),
              [order](const auto& a, const auto& b) { return http::listed_before(a, b, order); });
    std::vector<std::string> names;
    for (std::size_t i = 0; i < all.size() && i < cap; ++i) {
      names.push_back(all[i].name + (all[i].is_directory ? "/" : ""));
    }
    return names;
  }

  stdfs::path root_;
};

TEST_F(ListingBodyTest, KeepsTheFirstEntriesOfEachOrderUnderTheCap) {
  const http::ListingOrder orders[] = {
      {http::ListingSort::name, false}, {http::ListingSort::name, true},
      {http::ListingSort::size, false}, {http::ListingSort::size, true},
      {http::ListingSort::date, false}, {http::ListingSort::date, true}};
  for (const http::ListingOrder order : orders) {
    for (const std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{50},
                                  std::size_t{kFiles + 1}, std::size_t{10000}}) {
      std::string doc;
      std::size_t calls = 0;
      EXPECT_EQ(listed(order, cap, doc, calls), expected(order, cap))
          << static_cast<int>(order.sort) << order.descending << " cap " << cap;
      const std::size_t total = kFiles + 1;
      if (cap < total) {
        EXPECT_NE(doc.find(std::to_string(total - cap) + " entr"), std::string::npos) << cap;
      } else {
        EXPECT_EQ(doc.find("not shown"), std::string::npos);
      }
      // The directory was read a bounded batch per call.
      EXPECT_GE(calls, total / ListingBody::kEntriesPerCall);
    }
  }
}

}  // namespace
}  // namespace iocomp::server
