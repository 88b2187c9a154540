#include "http/status.hpp"

namespace iocomp::http {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string error_body(int status) {
  // Reason phrases are fixed ASCII without markup characters, so no escaping is needed.
  std::string title = std::to_string(status);
  title += ' ';
  title += reason_phrase(status);

  std::string body;
  body.reserve(96 + 2 * title.size());
  body += "<!DOCTYPE html>\n<html><head><title>";
  body += title;
  body += "</title></head><body><h1>";
  body += title;
  body += "</h1></body></html>\n";
  return body;
}

}  // namespace iocomp::http
