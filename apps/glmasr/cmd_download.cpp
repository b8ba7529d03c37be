// glmasr download: fetch the model folder from the Hugging Face hub (or a mirror).
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "hub/downloader.h"
#include "model/model_location.h"

namespace glmasr::cli {

namespace {

const char* kUsage =
    "usage: glmasr download [--repo OWNER/NAME] [--revision REV] [--endpoint URL] [--dir DIR]\n"
    "                       [--retries N] [--quiet]\n"
    "\n"
    "Fetches every file of a Hugging Face model repository into DIR, resuming partial files and\n"
    "checking each against the hub's size and SHA-256. Prints DIR on standard output.\n"
    "\n"
    "  --repo       repository (default zai-org/GLM-ASR-Nano-2512)\n"
    "  --revision   branch, tag or commit (default main)\n"
    "  --endpoint   hub URL (default $HF_ENDPOINT, else https://huggingface.co)\n"
    "  --dir        target folder (default ~/.cache/glmasr/NAME, where transcribe looks)\n"
    "  --retries    attempts after a transient failure, per request (default 5)\n"
    "  --quiet      no progress or per-file messages\n"
    "A token for private or gated repositories is read from $HF_TOKEN; it is sent only over\n"
    "https or to a loopback host. Until every file is verified DIR holds .glmasr-incomplete,\n"
    "and transcribe, serve and info refuse the folder.\n";

}  // namespace

int run_download(const CommandArgs& argv) {
  const Args args(argv, {{"--repo", true},
                         {"--revision", true},
                         {"--endpoint", true},
                         {"--dir", true},
                         {"--retries", true},
                         {"--quiet", false, "-q"},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!args.positional().empty())
    fail_usage("unexpected argument '", args.positional().front(), "'");
  DownloadOptions options;
  options.hub = make_hub_config(args.get_or("--repo", kDefaultModelRepo),
                                args.get_or("--revision", "main"), args.get_or("--endpoint", ""));
  const std::string repo_name = options.hub.repo.substr(options.hub.repo.find('/') + 1);
  options.dir =
      args.get_or("--dir", (std::filesystem::path(glmasr_cache_dir()) / repo_name).string());
  options.max_retries = static_cast<int>(args.get_int("--retries", 5, 0, 100));
  options.quiet = args.has("--quiet");
  options.incomplete_marker = kIncompleteDownloadMarker;
  if (options.hub.token_withheld)
    std::fprintf(stderr,
                 "glmasr download: not sending the Hugging Face token to %s: plain http would "
                 "expose it (only https or a loopback host receive it)\n",
                 options.hub.endpoint.c_str());
  // Tests shorten the waits between retries; users never need to.
  if (const char* backoff = std::getenv("GLMASR_DOWNLOAD_BACKOFF_SECONDS"))
    options.initial_backoff_seconds = std::atof(backoff);
  const DownloadSummary summary = download_model(options);
  if (!options.quiet)
    std::fprintf(stderr, "glmasr download: %d files: %d downloaded, %d already up to date\n",
                 summary.files, summary.downloaded, summary.up_to_date);
  std::printf("%s\n", options.dir.c_str());
  return 0;
}

}  // namespace glmasr::cli
