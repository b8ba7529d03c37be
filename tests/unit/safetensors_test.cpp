#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::string write_raw(const std::string& dir, const std::string& name, const std::string& header,
                      size_t data_bytes, int64_t declared_length = -1) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  const uint64_t length =
      declared_length >= 0 ? static_cast<uint64_t>(declared_length) : header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header;
  out << std::string(data_bytes, '\x01');
  return path;
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsFile file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripsWrittenTensors) {
  const std::string dir = testing::make_temp_dir("st-roundtrip");
  FloatTensor values({2, 3}, {1, 2, 3, 4, 5, 6});
  write_safetensors(dir + "/a.safetensors",
                    {make_f32_tensor("x", values), make_i64_tensor("ids", {7, 8, 9})});
  SafetensorsFile file(dir + "/a.safetensors");
  EXPECT_EQ(file.names().size(), 2u);
  const FloatTensor x = to_float(file.view("x"), "x");
  EXPECT_EQ(x.shape(), (Shape{2, 3}));
  EXPECT_EQ(x.values(), values.values());
  EXPECT_EQ(to_int64(file.view("ids"), "ids"), (std::vector<int64_t>{7, 8, 9}));
}

TEST(Safetensors, ConvertsBf16AndF16) {
  const std::string dir = testing::make_temp_dir("st-half");
  TensorToWrite bf{"b", DType::kBF16, {2}, {}};
  TensorToWrite hf{"h", DType::kF16, {2}, {}};
  for (float v : {1.5f, -2.25f}) {
    const uint16_t b = float_to_bf16(v), h = float_to_fp16(v);
    bf.bytes.insert(bf.bytes.end(), reinterpret_cast<const std::byte*>(&b),
                    reinterpret_cast<const std::byte*>(&b) + 2);
    hf.bytes.insert(hf.bytes.end(), reinterpret_cast<const std::byte*>(&h),
                    reinterpret_cast<const std::byte*>(&h) + 2);
  }
  write_safetensors(dir + "/h.safetensors", {bf, hf});
  SafetensorsFile file(dir + "/h.safetensors");
  EXPECT_EQ(to_float(file.view("b"), "b").values(), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(to_float(file.view("h"), "h").values(), (std::vector<float>{1.5f, -2.25f}));
}

TEST(Safetensors, MissingTensorNamesFileAndTensor) {
  const std::string dir = testing::make_temp_dir("st-missing");
  write_safetensors(dir + "/a.safetensors", {make_i64_tensor("ids", {1})});
  SafetensorsFile file(dir + "/a.safetensors");
  try {
    file.view("nope");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("a.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, RejectsBrokenFiles) {
  const std::string dir = testing::make_temp_dir("st-broken");
  const std::string good = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(error_of(write_raw(dir, "ok.st", good, 8)), "");
  // Header length past the end of the file.
  EXPECT_NE(error_of(write_raw(dir, "len.st", good, 8, 1 << 20)).find("runs past the end"),
            std::string::npos);
  // Truncated data section.
  EXPECT_NE(error_of(write_raw(dir, "trunc.st", good, 4)).find("truncated"), std::string::npos);
  // Corrupt JSON.
  EXPECT_NE(error_of(write_raw(dir, "json.st", "{\"x\":", 0)).find("not valid JSON"),
            std::string::npos);
  // Unknown dtype, wrong byte count, reversed offsets.
  EXPECT_NE(error_of(write_raw(dir, "dt.st",
                               R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8))
                .find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(dir, "sz.st",
                               R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
                .find("needs 12 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(dir, "rev.st",
                               R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8))
                .find("reversed"),
            std::string::npos);
  // Too short to hold the length, and a file that does not exist.
  { std::ofstream(dir + "/tiny.st") << "abc"; }
  EXPECT_NE(error_of(dir + "/tiny.st").find("not a safetensors file"), std::string::npos);
  EXPECT_NE(error_of(dir + "/absent.st").find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace glmasr
