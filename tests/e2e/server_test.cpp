// glmasr serve through the real binary on the tiny fixture checkpoint (CPU engine), driven with
// curl: the same text as glmasr transcribe, client errors, size limits, concurrent requests and
// a clean stop on SIGTERM. The server binds 127.0.0.1 only and is always killed by the test.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "testing/testing.h"

extern char** environ;

namespace glmasr {
namespace {

using nlohmann::json;

constexpr int kMaxNewTokens = 8;

std::string model_dir() {
  return testing::data_dir() + "/tiny";
}
std::string jfk_path() {
  return testing::shared_dir() + "/audio/jfk.wav";
}

// A port nothing listens on right now (the kernel's choice for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// HTTP status and body of one curl call; `args` are extra curl arguments.
struct Reply {
  int status = 0;
  std::string body;
};

class ServeE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testing::shared_dir().empty()) return;
    dir_ = testing::make_temp_dir("serve-e2e");
    port_ = free_port();
    const std::vector<std::string> argv = {
        testing::glmasr_binary(), "serve", "--device", "cpu",
        // Two engines behind the dispatcher (issue 15): every
        // answer below must equal the one-engine CLI's.
        "--devices", "0,0", "--model", model_dir(), "--host", "127.0.0.1", "--port",
        std::to_string(port_), "--max-new-tokens", std::to_string(kMaxNewTokens), "--max-upload-mb",
        "1", "--body-timeout", "5", "--served-model-name", "tiny-asr"};
    std::vector<char*> raw;
    for (const auto& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ + "/server.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, raw[0], &actions, nullptr, raw.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
    ASSERT_GT(pid_, 0) << "could not start " << testing::glmasr_binary();
    // The model loads before the port opens; wait (bounded) until /health answers.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (get("/health").status != 200) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid_, &status, WNOHANG), 0)
          << "the server exited: " << read_file(dir_ + "/server.log");
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "no /health within 60 s: " << read_file(dir_ + "/server.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  static std::string url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // curl's output is the body, then a line with the status code.
  static Reply parse_curl(const std::string& out) {
    Reply reply;
    const size_t newline = out.rfind('\n');
    if (newline == std::string::npos) return reply;
    reply.body = out.substr(0, newline);
    reply.status = std::atoi(out.c_str() + newline + 1);
    return reply;
  }

  static Reply curl(const std::string& args) {
    const auto result = testing::run_command("curl -s -m 60 -w '\\n%{http_code}' " + args);
    return parse_curl(result.out);
  }
  static Reply get(const std::string& path) { return curl(testing::shell_quote(url(path))); }
  static Reply upload(const std::string& file, const std::string& extra = "") {
    return curl("-F " + testing::shell_quote("file=@" + file) + " " + extra + " " +
                testing::shell_quote(url("/v1/audio/transcriptions")));
  }

  static inline pid_t pid_ = -1;
  static inline int port_ = 0;
  static inline std::string dir_;
};

TEST_F(ServeE2e, HealthAndModels) {
  EXPECT_EQ(json::parse(get("/health").body), json({{"status", "ok"}}));
  const Reply models = get("/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "tiny-asr");
}

TEST_F(ServeE2e, TextEqualsTheCli) {
  const auto cli = testing::run_command(
      testing::glmasr_binary() + " transcribe --device cpu --quiet --format json --model " +
      testing::shell_quote(model_dir()) + " --max-new-tokens " + std::to_string(kMaxNewTokens) +
      " " + testing::shell_quote(jfk_path()));
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const std::string expected = json::parse(cli.out)["text"];
  ASSERT_FALSE(expected.empty());

  const Reply reply = upload(jfk_path(), "-F model=whisper-1");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body), json({{"text", expected}}));

  const Reply text = upload(jfk_path(), "-F response_format=text");
  EXPECT_EQ(text.body, expected + "\n");
  const Reply verbose = upload(jfk_path(), "-F response_format=verbose_json");
  EXPECT_EQ(json::parse(verbose.body)["file"], "jfk.wav");
  EXPECT_EQ(json::parse(verbose.body)["duration"], 11.0);
  const Reply srt = upload(jfk_path(), "-F response_format=srt");
  EXPECT_EQ(srt.body.substr(0, 2), "1\n") << srt.body;

  // The same bytes as a raw audio body.
  const Reply raw =
      curl("-H 'Content-Type: audio/wav' --data-binary " + testing::shell_quote("@" + jfk_path()) +
           " " + testing::shell_quote(url("/v1/audio/transcriptions")));
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(json::parse(raw.body)["text"], expected);
}

TEST_F(ServeE2e, PromptTextIsPlainTextAndAnOverlongPromptIs400) {
  // Special-token strings in the prompt are characters: no extra audio placeholder, no 500.
  const Reply special = upload(jfk_path(), "-F " + testing::shell_quote("prompt=say <|pad|> now"));
  EXPECT_EQ(special.status, 200) << special.body;
  // A KV slot holds one window's audio, the template, 224 prompt tokens and the new tokens.
  std::string words;
  for (int i = 0; i < 1500; ++i) words += " alpha";
  const Reply overlong = upload(jfk_path(), "-F " + testing::shell_quote("prompt=" + words));
  EXPECT_EQ(overlong.status, 400) << overlong.body;
  const std::string message = json::parse(overlong.body)["error"]["message"];
  EXPECT_NE(message.find("shorter prompt"), std::string::npos) << message;
  EXPECT_EQ(get("/health").status, 200);
}

TEST_F(ServeE2e, NonAudioUploadIs400NamingTheFile) {
  const std::string path = dir_ + "/notes.txt";
  std::ofstream(path) << "these are meeting notes, not audio\n";
  const Reply reply = upload(path);
  EXPECT_EQ(reply.status, 400);
  const std::string message = json::parse(reply.body)["error"]["message"];
  EXPECT_NE(message.find("'notes.txt' cannot be decoded"), std::string::npos) << message;
}

TEST_F(ServeE2e, OversizedUploadIs413) {
  const std::string path = dir_ + "/big.wav";
  std::ofstream(path, std::ios::binary) << std::string(2 << 20, 'x');
  const Reply multipart = upload(path);
  EXPECT_EQ(multipart.status, 413) << multipart.body;
  EXPECT_EQ(json::parse(multipart.body)["error"]["type"], "request_too_large");
  // Chunked: no Content-Length to check, so the server stops reading past the limit.
  const Reply chunked =
      curl("-H 'Transfer-Encoding: chunked' -H 'Content-Type: audio/wav' --data-binary " +
           testing::shell_quote("@" + path) + " " +
           testing::shell_quote(url("/v1/audio/transcriptions")));
  EXPECT_EQ(chunked.status, 413) << chunked.body;
}

TEST_F(ServeE2e, ReadyMetricsAndTheServedModelName) {
  EXPECT_EQ(get("/ready").status, 200);
  EXPECT_EQ(json::parse(get("/v1/models/tiny-asr").body)["id"], "tiny-asr");
  EXPECT_EQ(get("/v1/models/GLM-ASR-Nano-2512").status, 404);
  ASSERT_EQ(upload(jfk_path()).status, 200);
  const Reply metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  for (const char* name :
       {"glmasr:num_requests_running", "glmasr:num_requests_waiting", "glmasr:kv_cache_usage_perc",
        "glmasr:e2e_request_latency_seconds_count", "glmasr:request_queue_time_seconds_count",
        "glmasr:generation_tokens_total"})
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  for (const char* engine : {"0", "1"})  // per engine, beside the totals
    EXPECT_NE(metrics.body.find(std::string("glmasr:engine_healthy{engine=\"") + engine +
                                "\",device=\"cpu\"} 1\n"),
              std::string::npos)
        << metrics.body;
  EXPECT_EQ(metrics.body.find("glmasr:request_success_total{finished_reason=\"stop\"} 0\n"),
            std::string::npos)
      << "the upload above was not counted";
}

TEST_F(ServeE2e, UnknownRouteIs404AndWrongMethodIs405) {
  EXPECT_EQ(get("/v1/audio/translate").status, 404);
  EXPECT_EQ(get("/v1/audio/transcriptions").status, 405);
}

TEST_F(ServeE2e, ConcurrentRequestsAreAllAnswered) {
  const Reply single = upload(jfk_path());
  ASSERT_EQ(single.status, 200);
  std::string script;
  for (int i = 0; i < 4; ++i)
    script += "curl -s -m 120 -w '\\n%{http_code}' -F " +
              testing::shell_quote("file=@" + jfk_path()) + " " +
              testing::shell_quote(url("/v1/audio/transcriptions")) + " > " +
              testing::shell_quote(dir_ + "/concurrent" + std::to_string(i)) + " & ";
  const auto run = testing::run_command("( " + script + "wait )");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (int i = 0; i < 4; ++i) {
    const Reply reply = parse_curl(read_file(dir_ + "/concurrent" + std::to_string(i)));
    EXPECT_EQ(reply.status, 200) << i << ": " << reply.body;
    EXPECT_EQ(reply.body, single.body) << i;
  }
}

TEST_F(ServeE2e, MalformedRequestIs400AndTheServerLivesOn) {
  const Reply reply = curl("-X 'BAD(METHOD' " + testing::shell_quote(url("/health")));
  EXPECT_EQ(reply.status, 400) << reply.body;
  EXPECT_EQ(get("/health").status, 200);
}

// Runs last (gtest keeps declaration order): SIGTERM stops the server with exit code 0.
TEST_F(ServeE2e, ZzStopsCleanlyOnSigterm) {
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  // The listening socket closes at once: new clients are refused, not left hanging.
  const auto refused_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (get("/health").status != 0 && std::chrono::steady_clock::now() < refused_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(get("/health").status, 0) << "still accepting after SIGTERM";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(done, pid_) << "still running 20 s after SIGTERM";
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir_ + "/server.log");
  EXPECT_NE(read_file(dir_ + "/server.log").find("stopped"), std::string::npos);
}

}  // namespace
}  // namespace glmasr
