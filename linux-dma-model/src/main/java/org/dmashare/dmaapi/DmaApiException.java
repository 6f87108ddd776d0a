package org.dmashare.dmaapi;

import java.util.Objects;
import org.dmashare.DmaShareException;

/**
 * A modelled DMA-API call failed the way the Linux call would: {@link #errno()} is what the kernel
 * function reports (a negative return value, or NULL / {@code DMA_MAPPING_ERROR} for calls that
 * cannot return an errno, recorded here as {@link Errno#ENOMEM} or {@link Errno#EINVAL}), so a
 * driver model can propagate {@code errno().negative()}. As in the kernel, a failed call has
 * undone its own work: pages, IOVA ranges and mappings are as before, and a scatterlist it was
 * given is restored.
 */
public class DmaApiException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /** The errno. */
    private final Errno errno;

    /**
     * Creates the exception.
     *
     * @param errno what the kernel would report
     * @param message what was asked, what was found and what would be accepted
     */
    public DmaApiException(Errno errno, String message) {
        super(Objects.requireNonNull(errno, "errno") + ": " + message);
        this.errno = errno;
    }

    /**
     * Creates the exception with the failure that caused it.
     *
     * @param errno what the kernel would report
     * @param message what was asked, what was found and what would be accepted
     * @param cause the model failure behind it (page, IOVA or page-table exhaustion, refused map)
     */
    public DmaApiException(Errno errno, String message, Throwable cause) {
        super(Objects.requireNonNull(errno, "errno") + ": " + message, cause);
        this.errno = errno;
    }

    /**
     * The error the kernel call reports.
     *
     * @return the errno
     */
    public Errno errno() {
        return errno;
    }
}
