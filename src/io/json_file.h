// Reading JSON files with errors that name the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace glmasr {

// Reads and parses a JSON file; throws glmasr::Error naming the path on I/O or syntax errors.
nlohmann::json read_json_file(const std::string& path);

// Reads a whole file into a string; throws naming the path.
std::string read_text_file(const std::string& path);

}  // namespace glmasr
