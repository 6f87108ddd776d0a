package org.dmashare;

/**
 * The page allocator has no free block of the size and alignment required (buffer pages or page-table pages).
 */
public class PhysicalMemoryExhaustedException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public PhysicalMemoryExhaustedException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public PhysicalMemoryExhaustedException(String message, Throwable cause) {
        super(message, cause);
    }
}
