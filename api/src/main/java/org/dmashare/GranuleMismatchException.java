package org.dmashare;

/**
 * A domain's IOMMU granule does not divide the alignment a buffer was allocated with, so the buffer cannot be mapped into it contiguously. The message names both sizes.
 */
public class GranuleMismatchException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public GranuleMismatchException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public GranuleMismatchException(String message, Throwable cause) {
        super(message, cause);
    }
}
