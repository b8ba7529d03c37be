/* consumer_c MODEL_DIR AUDIO: prints the transcript as `glmasr transcribe` does (txt), after
 * checking that the file and its bytes in memory give the same text. Exit 0 on success. */
#include <glmasr/glmasr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_segment(const glmasr_segment* segment, void* user_data) {
  (void)segment;
  ++*(int*)user_data;
  return 0;
}

static int fail(const char* what, glmasr_status status) {
  fprintf(stderr, "consumer_c: %s: %s: %s\n", what, glmasr_status_name(status),
          glmasr_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: consumer_c MODEL_DIR AUDIO\n");
    return 2;
  }
  glmasr_model* model = NULL;
  glmasr_status status = glmasr_model_open(argv[1], NULL, &model);
  if (status != GLMASR_OK) return fail("open", status);

  int segments_seen = 0;
  glmasr_transcribe_options options;
  glmasr_transcribe_options_init(&options);
  options.on_segment = count_segment;
  options.user_data = &segments_seen;
  glmasr_result* result = NULL;
  status = glmasr_transcribe_file(model, argv[2], &options, &result);
  if (status != GLMASR_OK) return fail("transcribe_file", status);
  if ((size_t)segments_seen != glmasr_result_segment_count(result)) {
    fprintf(stderr, "consumer_c: the callback saw %d segments, the result has %zu\n", segments_seen,
            glmasr_result_segment_count(result));
    return 1;
  }

  FILE* file = fopen(argv[2], "rb");
  if (!file) return fail("fopen", GLMASR_ERROR_INPUT);
  fseek(file, 0, SEEK_END);
  const long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  char* bytes = malloc((size_t)size);
  if (!bytes || fread(bytes, 1, (size_t)size, file) != (size_t)size) return 1;
  fclose(file);
  glmasr_result* from_memory = NULL;
  status = glmasr_transcribe_encoded(model, bytes, (size_t)size, NULL, &from_memory);
  free(bytes);
  if (status != GLMASR_OK) return fail("transcribe_encoded", status);
  if (strcmp(glmasr_result_text(result), glmasr_result_text(from_memory)) != 0) {
    fprintf(stderr, "consumer_c: the file and its bytes gave different text\n");
    return 1;
  }

  const char* document = NULL;
  status = glmasr_result_render(result, "txt", &document);
  if (status != GLMASR_OK) return fail("render", status);
  fputs(document, stdout);
  glmasr_result_free(from_memory);
  glmasr_result_free(result);
  glmasr_model_close(model);
  return 0;
}
