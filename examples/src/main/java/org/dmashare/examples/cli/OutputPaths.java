package org.dmashare.examples.cli;

import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import picocli.CommandLine;

/**
 * Checks the files the command line will write before it does any work, so that a bad path is a
 * bad argument (exit 2) naming the option, the path and the reason, and nothing is printed or
 * written; and words a file-system error that still happens while writing (exit 1).
 */
final class OutputPaths {
    private OutputPaths() {}

    /**
     * A file to create or overwrite: not empty, not a folder, in an existing writable folder.
     *
     * @throws CommandLine.ParameterException naming the option, the path and the reason
     */
    static void checkFile(CommandLine cli, String option, Path file) {
        if (file.toString().isEmpty()) {
            throw bad(cli, option, file, "empty path; give a file name");
        }
        if (Files.isDirectory(file)) {
            throw bad(cli, option, file, "is a folder; give a file name");
        }
        if (Files.exists(file)) {
            if (!Files.isRegularFile(file) || !Files.isWritable(file)) {
                throw bad(cli, option, file, "exists and cannot be overwritten");
            }
            return;
        }
        checkParent(cli, option, file);
    }

    /**
     * A folder to write into, created if missing: not empty, not an existing file; an existing one
     * must be writable, a missing one must be in an existing writable folder.
     *
     * @throws CommandLine.ParameterException naming the option, the path and the reason
     */
    static void checkFolder(CommandLine cli, String option, Path folder) {
        if (folder.toString().isEmpty()) {
            throw bad(cli, option, folder, "empty path; give a folder (created if missing)");
        }
        if (Files.exists(folder)) {
            if (!Files.isDirectory(folder)) {
                throw bad(cli, option, folder, "exists and is not a folder");
            }
            if (!Files.isWritable(folder)) {
                throw bad(cli, option, folder, "folder is not writable");
            }
            return;
        }
        checkParent(cli, option, folder);
    }

    private static void checkParent(CommandLine cli, String option, Path path) {
        Path parent = path.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw bad(cli, option, path, "folder " + parent + " does not exist");
        }
        if (!Files.isWritable(parent)) {
            throw bad(cli, option, path, "folder " + parent + " is not writable");
        }
    }

    private static CommandLine.ParameterException bad(CommandLine cli, String option, Path path, String reason) {
        return new CommandLine.ParameterException(cli, option + " '" + path + "': " + reason);
    }

    /**
     * One line for a file-system error: the path and the reason, never the path alone.
     *
     * @param e the error
     * @return for example {@code /x/y.svg: no such file or folder}
     */
    static String describe(FileSystemException e) {
        String reason = e.getReason() != null
                ? e.getReason()
                : e instanceof NoSuchFileException
                        ? "no such file or folder"
                        : e instanceof AccessDeniedException
                                ? "permission denied"
                                : e instanceof FileAlreadyExistsException
                                        ? "already exists"
                                        : e instanceof NotDirectoryException
                                                ? "not a folder"
                                                : e.getClass().getSimpleName();
        return e.getFile() + (e.getOtherFile() == null ? "" : " -> " + e.getOtherFile()) + ": " + reason;
    }
}
