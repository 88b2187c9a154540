#include "http/status.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iocomp::http {
namespace {

TEST(HttpStatus, ReasonPhrases) {
  const std::pair<int, std::string_view> expected[] = {
      {200, "OK"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {416, "Range Not Satisfiable"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [status, phrase] : expected) EXPECT_EQ(reason_phrase(status), phrase) << status;
}

TEST(HttpStatus, UnknownStatus) {
  EXPECT_EQ(reason_phrase(0), "Unknown");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(999), "Unknown");
}

TEST(HttpStatus, ErrorBody) {
  EXPECT_EQ(error_body(404),
            "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
            "<body><h1>404 Not Found</h1></body></html>\n");
  EXPECT_EQ(error_body(416),
            "<!DOCTYPE html>\n<html><head><title>416 Range Not Satisfiable</title></head>"
            "<body><h1>416 Range Not Satisfiable</h1></body></html>\n");
  EXPECT_EQ(error_body(599),
            "<!DOCTYPE html>\n<html><head><title>599 Unknown</title></head>"
            "<body><h1>599 Unknown</h1></body></html>\n");
}

}  // namespace
}  // namespace iocomp::http
