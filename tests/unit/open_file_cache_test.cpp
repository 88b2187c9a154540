#include "fs/open_file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <variant>

namespace iocomp::fs {
namespace {

namespace stdfs = std::filesystem;
using Cached = std::shared_ptr<const CachedFile>;

class OpenFileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/iocomp-cache-XXXXXX";
    base_ = ::mkdtemp(pattern);
    root_ = base_ / "root";
    stdfs::create_directories(root_ / "dir");
    write("small", "hello");
    write("big", std::string(100, 'b'));
    stdfs::create_directories(base_ / "outside");
    std::ofstream(base_ / "outside" / "secret") << "secret";
  }
  void TearDown() override { stdfs::remove_all(base_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(root_ / name, std::ios::trunc) << text;
  }
  static Cached cached(std::variant<Cached, FileError, OpenFile> v) {
    EXPECT_TRUE(std::holds_alternative<Cached>(v));
    return std::holds_alternative<Cached>(v) ? std::get<Cached>(v) : nullptr;
  }

  stdfs::path base_;
  stdfs::path root_;
};

constexpr http::CodingMask kBr = http::coding_bit(http::Coding::br);
constexpr http::CodingMask kZstd = http::coding_bit(http::Coding::zstd);
constexpr http::CodingMask kGzip = http::coding_bit(http::Coding::gzip);

TEST_F(OpenFileCacheTest, SmallFilesAreHeldInMemoryLargeOnesAreNot) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 10});
  Cached small = cached(cache.open("small", 0));
  ASSERT_TRUE(small);
  EXPECT_TRUE(small->has_body);
  EXPECT_EQ(small->body, "hello");
  Cached big = cached(cache.open("/big", 0));
  ASSERT_TRUE(big);
  EXPECT_FALSE(big->has_body);
  EXPECT_EQ(big->file.size(), 100u);
}

TEST_F(OpenFileCacheTest, HitsReturnTheSameEntryWithinTheValidity) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("small", 0));
  write("small", "changed!");
  Cached second = cached(cache.open("small", 999));
  EXPECT_EQ(first.get(), second.get());  // trusted: no system call for the hit
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(OpenFileCacheTest, ChangedFilesAreReopenedAfterTheValidity) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("small", 0));
  write("small", "changed!");
  Cached second = cached(cache.open("small", 1000));
  ASSERT_TRUE(second);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(second->body, "changed!");
  EXPECT_EQ(first->body, "hello");  // a send in flight keeps its consistent copy
}

TEST_F(OpenFileCacheTest, FrequentHitsDoNotPostponeTheCheck) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("small", 0));
  EXPECT_EQ(cached(cache.open("small", 600)).get(), first.get());
  write("small", "changed!");
  EXPECT_EQ(cached(cache.open("small", 999)).get(), first.get());
  EXPECT_EQ(cached(cache.open("small", 1000))->body, "changed!");
}

TEST_F(OpenFileCacheTest, UnchangedFilesSurviveRevalidation) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("small", 0));
  Cached second = cached(cache.open("small", 5000));
  EXPECT_EQ(first.get(), second.get());
}

TEST_F(OpenFileCacheTest, ANameSwappedForAnEscapingSymlinkIsRefusedOnRevalidation) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  ASSERT_TRUE(cached(cache.open("small", 0)));
  stdfs::remove(root_ / "small");
  stdfs::create_symlink("../outside/secret", root_ / "small");
  auto result = cache.open("small", 2000);
  ASSERT_TRUE(std::holds_alternative<FileError>(result));
  EXPECT_EQ(std::get<FileError>(result), FileError::forbidden);
}

TEST_F(OpenFileCacheTest, DeletedFilesBecomeNotFound) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  ASSERT_TRUE(cached(cache.open("small", 0)));
  stdfs::remove(root_ / "small");
  auto result = cache.open("small", 2000);
  ASSERT_TRUE(std::holds_alternative<FileError>(result));
  EXPECT_EQ(std::get<FileError>(result), FileError::not_found);
}

TEST_F(OpenFileCacheTest, DirectoriesAndErrorsAreNotCached) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  EXPECT_TRUE(std::holds_alternative<OpenFile>(cache.open("dir", 0)));
  EXPECT_TRUE(std::holds_alternative<FileError>(cache.open("missing", 0)));
  EXPECT_TRUE(std::holds_alternative<FileError>(cache.open("../outside/secret", 0)));
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(OpenFileCacheTest, LeastRecentlyUsedEntryIsEvictedAtTheLimit) {
  const FileRoot root(root_.string());
  for (int i = 0; i < 5; ++i) write("f" + std::to_string(i), std::to_string(i));
  OpenFileCache cache(root, {3, 1000, 1024});
  Cached f0 = cached(cache.open("f0", 0));
  cached(cache.open("f1", 0));
  cached(cache.open("f2", 0));
  EXPECT_EQ(cached(cache.open("f0", 0)).get(), f0.get());  // f0 is now the most recent
  cached(cache.open("f3", 0));                             // evicts f1
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cached(cache.open("f0", 0)).get(), f0.get());
  EXPECT_EQ(f0->body, "0");
}

TEST_F(OpenFileCacheTest, InvalidateDropsTheEntry) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 100000, 1024});
  Cached first = cached(cache.open("small", 0));
  cache.invalidate("/small");
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_NE(cached(cache.open("small", 1)).get(), first.get());
}

// The descriptor of an entry nobody uses is closed after the validity period, oldest first;
// a file deleted meanwhile then has no descriptor left in the cache.
TEST_F(OpenFileCacheTest, SweepClosesEntriesUnusedForTheValidityPeriod) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 1024});
  std::weak_ptr<const CachedFile> small = cached(cache.open("small", 0));
  std::weak_ptr<const CachedFile> big = cached(cache.open("big", 600));
  stdfs::remove(root_ / "small");
  EXPECT_TRUE(cache.sweep(999));  // nothing has been unused for 1000 ms yet
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.sweep(1000));  // "small" expires, "big" stays
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(small.expired());
  EXPECT_FALSE(big.expired());
  cached(cache.open("big", 1500));  // a use postpones expiry
  EXPECT_TRUE(cache.sweep(2400));
  EXPECT_FALSE(cache.sweep(2500));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(big.expired());
}

TEST_F(OpenFileCacheTest, SweepLeavesAFileBeingSentOpenUntilItsTransferEnds) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {16, 1000, 10});
  Cached in_flight = cached(cache.open("big", 0));
  EXPECT_FALSE(cache.sweep(5000));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(in_flight->file.is_open());
  EXPECT_GE(::fcntl(in_flight->file.fd(), F_GETFD), 0);
}

TEST_F(OpenFileCacheTest, ZeroEntriesDisablesCaching) {
  const FileRoot root(root_.string());
  OpenFileCache cache(root, {0, 1000, 1024});
  Cached a = cached(cache.open("small", 0));
  Cached b = cached(cache.open("small", 0));
  EXPECT_NE(a.get(), b.get());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(OpenFileCacheTest, OnlyRegularVariantsBesideTheFileAreFound) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  write("x.js.gz", "gzip bytes");
  stdfs::create_directories(root_ / "x.js.br");
  ASSERT_EQ(::mkfifo((root_ / "x.js.zst").c_str(), 0644), 0);
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached x = cached(cache.open("/x.js", 0));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->variant_mask, kGzip);
  EXPECT_EQ(x->variant(http::Coding::gzip).body, "gzip bytes");
  EXPECT_EQ(x->variant(http::Coding::gzip).variant_mask, 0u);
  EXPECT_EQ(x->variants[static_cast<std::size_t>(http::Coding::br)], nullptr);
  EXPECT_EQ(cached(cache.open("small", 0))->variant_mask, 0u);
  EXPECT_EQ(cache.size(), 2u);  // variants live in their file's entry
}

TEST_F(OpenFileCacheTest, VariantSymlinksCountOnlyBeneathTheRoot) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  stdfs::create_symlink("../outside/secret", root_ / "x.js.br");
  stdfs::create_symlink(base_ / "outside" / "secret", root_ / "x.js.gz");
  stdfs::create_symlink("big", root_ / "x.js.zst");
  OpenFileCache cache(root, {16, 1000, 10});
  Cached x = cached(cache.open("x.js", 0));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->variant_mask, kZstd);
  const CachedFile& zst = x->variant(http::Coding::zstd);
  EXPECT_FALSE(zst.has_body);  // over small_file_max: sent from the descriptor
  EXPECT_EQ(zst.file.size(), 100u);
  EXPECT_TRUE(zst.file.is_open());
}

TEST_F(OpenFileCacheTest, HiddenVariantNamesFollowTheHiddenRule) {
  write(".env", "plain");
  write(".env.gz", "gzip bytes");
  const FileRoot strict(root_.string());
  OpenFileCache strict_cache(strict, {16, 1000, 1024});
  EXPECT_TRUE(std::holds_alternative<FileError>(strict_cache.open(".env", 0)));
  const FileRoot allowing(root_.string(), true);
  OpenFileCache allowing_cache(allowing, {16, 1000, 1024});
  EXPECT_EQ(cached(allowing_cache.open(".env", 0))->variant_mask, kGzip);
}

TEST_F(OpenFileCacheTest, NoVariantsWhenPrecompressedIsOff) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  write("x.js.gz", "gzip bytes");
  OpenFileCache cache(root, {16, 0, 1024, false});
  Cached x = cached(cache.open("x.js", 0));
  EXPECT_EQ(x->variant_mask, 0u);
  EXPECT_EQ(cached(cache.open("x.js", 5000))->variant_mask, 0u);  // nor on revalidation
}

TEST_F(OpenFileCacheTest, VariantChangesAreNoticedAfterTheValidity) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  write("x.js.gz", "gzip bytes");
  write("x.js.zst", "zstd bytes");
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("x.js", 0));
  ASSERT_EQ(first->variant_mask, kGzip | kZstd);
  const auto zst_before = first->variants[static_cast<std::size_t>(http::Coding::zstd)];

  write("x.js.br", "brotli bytes");                 // added
  stdfs::remove(root_ / "x.js.gz");                 // removed
  write("x.js.zst", "zstd bytes, second edition");  // changed in place
  Cached within = cached(cache.open("x.js", 999));
  EXPECT_EQ(within.get(), first.get());
  EXPECT_EQ(within->variant_mask, kGzip | kZstd);  // trusted: no system call for the hit

  Cached after = cached(cache.open("x.js", 1000));
  EXPECT_EQ(after.get(), first.get());  // the file itself is unchanged: same entry
  EXPECT_EQ(after->variant_mask, kBr | kZstd);
  EXPECT_EQ(after->variant(http::Coding::br).body, "brotli bytes");
  EXPECT_EQ(after->variant(http::Coding::zstd).body, "zstd bytes, second edition");
  EXPECT_EQ(zst_before->body, "zstd bytes");  // a send in flight keeps its consistent copy

  const auto br = after->variants[static_cast<std::size_t>(http::Coding::br)];
  Cached unchanged = cached(cache.open("x.js", 2000));
  EXPECT_EQ(unchanged->variants[static_cast<std::size_t>(http::Coding::br)], br);
  EXPECT_EQ(unchanged->variant_mask, kBr | kZstd);
}

TEST_F(OpenFileCacheTest, AVariantSwappedForAnEscapingSymlinkIsDroppedOnRevalidation) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  write("x.js.gz", "gzip bytes");
  OpenFileCache cache(root, {16, 1000, 1024});
  ASSERT_EQ(cached(cache.open("x.js", 0))->variant_mask, kGzip);
  stdfs::remove(root_ / "x.js.gz");
  stdfs::create_symlink("../outside/secret", root_ / "x.js.gz");
  EXPECT_EQ(cached(cache.open("x.js", 1000))->variant_mask, 0u);
}

TEST_F(OpenFileCacheTest, AChangedFileGetsItsVariantsProbedAgain) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  OpenFileCache cache(root, {16, 1000, 1024});
  Cached first = cached(cache.open("x.js", 0));
  EXPECT_EQ(first->variant_mask, 0u);
  write("x.js", "plain, second edition");
  write("x.js.gz", "gzip bytes");
  Cached second = cached(cache.open("x.js", 1000));
  EXPECT_NE(second.get(), first.get());
  EXPECT_EQ(second->variant_mask, kGzip);
}

TEST_F(OpenFileCacheTest, WithoutACacheVariantsAreProbedPerOpen) {
  const FileRoot root(root_.string());
  write("x.js", "plain");
  OpenFileCache cache(root, {0, 1000, 1024});
  EXPECT_EQ(cached(cache.open("x.js", 0))->variant_mask, 0u);
  write("x.js.br", "brotli bytes");
  EXPECT_EQ(cached(cache.open("x.js", 0))->variant_mask, kBr);
}

}  // namespace
}  // namespace iocomp::fs
