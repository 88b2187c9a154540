#pragma once
// Status codes: reason phrases and the short HTML error bodies. Pure.
#include <string>
#include <string_view>

namespace iocomp::http {

std::string_view reason_phrase(int status);

// "<!DOCTYPE html><html>...<h1>404 Not Found</h1>...</html>\n"
std::string error_body(int status);

}  // namespace iocomp::http
