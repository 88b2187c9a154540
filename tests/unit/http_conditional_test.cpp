#include "http/conditional.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::http {
namespace {

constexpr std::time_t kModified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kAtModified = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char* kBeforeModified = "Sun, 06 Nov 1994 08:49:36 GMT";
constexpr const char* kAfterModified = "Sun, 06 Nov 1994 08:49:38 GMT";

class HttpConditional : public testing::Test {
 protected:
  const std::string etag_ = make_etag(0x1234, 0x10, 0xabc);
  Validators validators_{etag_, kModified, kModified + 3600};

  Precondition evaluate(const Request& request) const {
    return evaluate_preconditions(request, validators_);
  }

  static Request get() {
    Request request;
    request.method = "GET";
    request.method_kind = Method::get;
    request.target = "/f";
    return request;
  }
};

TEST(HttpETag, Format) {
  EXPECT_EQ(make_etag(0x1234, 0x10, 0xabc), "\"1234-10-abc\"");
  EXPECT_EQ(make_etag(0, 0, 0), "\"0-0-0\"");
  EXPECT_EQ(make_etag(UINT64_MAX, UINT64_MAX, INT64_MAX),
            "\"ffffffffffffffff-ffffffffffffffff-7fffffffffffffff\"");
  // Negative mtime (before 1970) is taken as its uint64 bit pattern.
  EXPECT_EQ(make_etag(1, 2, -1), "\"1-2-ffffffffffffffff\"");
  EXPECT_EQ(make_etag(255, 4096, 1700000000123456789), "\"ff-1000-17979cfe3d85cd15\"");
}

TEST(HttpETag, DiffersWhenAnyInputDiffers) {
  const std::string base = make_etag(1, 2, 3);
  EXPECT_NE(base, make_etag(2, 2, 3));
  EXPECT_NE(base, make_etag(1, 3, 3));
  EXPECT_NE(base, make_etag(1, 2, 4));
}

TEST_F(HttpConditional, NoConditionsProceed) {
  EXPECT_EQ(evaluate(get()), Precondition::proceed);
}

TEST_F(HttpConditional, IfNoneMatch) {
  Request request = get();
  request.if_none_match = "\"1234-10-abc\"";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = "W/\"1234-10-abc\"";  // weak comparison
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = "\"other\", \"1234-10-abc\"";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = "\"other\",W/\"1234-10-abc\" , \"x\"";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = "*";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = " * ";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_none_match = "\"other\"";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_none_match = "\"1234-10-ab\"";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_none_match = "1234-10-abc";  // unquoted: not an entity-tag
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_none_match = "\"1234-10-abc\" garbage";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_none_match = "\"1234-10-abc";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
}

TEST_F(HttpConditional, IfNoneMatchForHeadAndUnsafeMethods) {
  Request request = get();
  request.method_kind = Method::head;
  request.if_none_match = "*";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.method_kind = Method::other;
  EXPECT_EQ(evaluate(request), Precondition::failed);
}

TEST_F(HttpConditional, IfNoneMatchWinsOverIfModifiedSince) {
  Request request = get();
  request.if_none_match = "\"other\"";
  request.if_modified_since = kAfterModified;  // alone it would give 304
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_none_match = etag_;
  request.if_modified_since = kBeforeModified;  // alone it would give 200
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
}

TEST_F(HttpConditional, IfModifiedSince) {
  Request request = get();
  request.if_modified_since = kAtModified;
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_modified_since = kAfterModified;
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_modified_since = kBeforeModified;
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_modified_since = "Sunday, 06-Nov-94 08:49:37 GMT";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_modified_since = "Sun Nov  6 08:49:37 1994";
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
  request.if_modified_since = "yesterday";  // ignored
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.method_kind = Method::other;  // only for GET and HEAD
  request.if_modified_since = kAfterModified;
  EXPECT_EQ(evaluate(request), Precondition::proceed);
}

TEST_F(HttpConditional, IfMatch) {
  Request request = get();
  request.if_match = "*";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_match = etag_;
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_match = "\"a\", \"1234-10-abc\"";
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_match = "W/\"1234-10-abc\"";  // strong comparison: weak never matches
  EXPECT_EQ(evaluate(request), Precondition::failed);
  request.if_match = "\"other\"";
  EXPECT_EQ(evaluate(request), Precondition::failed);
  request.if_match = "garbage";
  EXPECT_EQ(evaluate(request), Precondition::failed);
}

TEST_F(HttpConditional, IfMatchWithoutAnEtag) {
  const Validators no_etag{"", kModified};
  Request request = get();
  request.if_match = "*";
  EXPECT_EQ(evaluate_preconditions(request, no_etag), Precondition::proceed);
  request.if_match = "\"x\"";
  EXPECT_EQ(evaluate_preconditions(request, no_etag), Precondition::failed);
  request.if_match = "";
  request.if_none_match = "\"x\"";
  EXPECT_EQ(evaluate_preconditions(request, no_etag), Precondition::proceed);
}

TEST_F(HttpConditional, IfUnmodifiedSince) {
  Request request = get();
  request.if_unmodified_since = kAtModified;
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_unmodified_since = kAfterModified;
  EXPECT_EQ(evaluate(request), Precondition::proceed);
  request.if_unmodified_since = kBeforeModified;
  EXPECT_EQ(evaluate(request), Precondition::failed);
  request.if_unmodified_since = "not a date";  // ignored
  EXPECT_EQ(evaluate(request), Precondition::proceed);
}

TEST_F(HttpConditional, IfMatchWinsOverIfUnmodifiedSince) {
  Request request = get();
  request.if_match = etag_;
  request.if_unmodified_since = kBeforeModified;  // alone it would fail
  EXPECT_EQ(evaluate(request), Precondition::proceed);
}

TEST_F(HttpConditional, FailedPreconditionBeatsNotModified) {
  Request request = get();
  request.if_match = "\"other\"";
  request.if_none_match = etag_;
  EXPECT_EQ(evaluate(request), Precondition::failed);
  request.if_match = "";
  request.if_unmodified_since = kBeforeModified;
  EXPECT_EQ(evaluate(request), Precondition::failed);
}

TEST_F(HttpConditional, IfMatchPassesThenIfNoneMatchApplies) {
  Request request = get();
  request.if_match = etag_;
  request.if_none_match = etag_;
  EXPECT_EQ(evaluate(request), Precondition::not_modified);
}

TEST_F(HttpConditional, IfRange) {
  EXPECT_TRUE(if_range_allows_partial("", validators_));
  EXPECT_TRUE(if_range_allows_partial(etag_, validators_));
  EXPECT_TRUE(if_range_allows_partial(" \"1234-10-abc\" ", validators_));
  EXPECT_TRUE(if_range_allows_partial(kAtModified, validators_));
  EXPECT_TRUE(if_range_allows_partial("Sunday, 06-Nov-94 08:49:37 GMT", validators_));

  // Stale entity-tag: the file changed, send it whole.
  EXPECT_FALSE(if_range_allows_partial("\"1234-10-abb\"", validators_));
  EXPECT_FALSE(if_range_allows_partial(make_etag(0x1234, 0x10, 0xabd), validators_));
  // Weak entity-tags never allow a partial response.
  EXPECT_FALSE(if_range_allows_partial("W/\"1234-10-abc\"", validators_));
  // Dates must match exactly, earlier or later alike.
  EXPECT_FALSE(if_range_allows_partial(kBeforeModified, validators_));
  EXPECT_FALSE(if_range_allows_partial(kAfterModified, validators_));
  // Lists and garbage.
  EXPECT_FALSE(if_range_allows_partial("\"1234-10-abc\", \"x\"", validators_));
  EXPECT_FALSE(if_range_allows_partial("*", validators_));
  EXPECT_FALSE(if_range_allows_partial("garbage", validators_));
  EXPECT_FALSE(if_range_allows_partial("\"unterminated", validators_));
}

// A file modified in the current second may change again within it under the same date: the
// date is weak then, and the whole file is sent.
TEST_F(HttpConditional, IfRangeDateIsStrongOnlyOnceItsSecondIsOver) {
  EXPECT_FALSE(if_range_allows_partial(kAtModified, Validators{etag_, kModified, kModified}));
  EXPECT_FALSE(if_range_allows_partial(kAtModified, Validators{etag_, kModified, kModified - 5}));
  EXPECT_TRUE(if_range_allows_partial(kAtModified, Validators{etag_, kModified, kModified + 1}));
  // The entity-tag is strong whatever the dates.
  EXPECT_TRUE(if_range_allows_partial(etag_, Validators{etag_, kModified, kModified}));
}

TEST_F(HttpConditional, IfRangeWithoutAnEtag) {
  const Validators no_etag{"", kModified, kModified + 1};
  EXPECT_FALSE(if_range_allows_partial("\"\"", no_etag));
  EXPECT_FALSE(if_range_allows_partial("\"x\"", no_etag));
  EXPECT_TRUE(if_range_allows_partial(kAtModified, no_etag));
}

}  // namespace
}  // namespace iocomp::http
