// temp_dir.h: a fresh directory under the system temp dir for one test,
// removed at the end, with the files the test writes or copies into it.
#ifndef ENCORE_TESTS_TEMP_DIR_H
#define ENCORE_TESTS_TEMP_DIR_H

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

class TempDir {
public:
    // prefix names the test file, so that leftovers say where they come from
    explicit TempDir(const std::string &prefix) {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string path() const { return path_.string(); }
    void write(const std::string &name, const std::string &data) const {
        std::ofstream(path_ / name, std::ios::binary) << data;
    }
    void copy_from(const std::string &dir, const std::string &name) const {
        std::filesystem::copy_file(std::filesystem::path(dir) / name, path_ / name,
                                   std::filesystem::copy_options::overwrite_existing);
    }

private:
    std::filesystem::path path_;
};

#endif  // ENCORE_TESTS_TEMP_DIR_H
