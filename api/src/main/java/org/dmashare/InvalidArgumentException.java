package org.dmashare;

/**
 * An argument is out of range, misaligned, or inconsistent with the object it is given to (for example a domain over a different {@code PhysicalMemory}). Nothing was changed.
 */
public class InvalidArgumentException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public InvalidArgumentException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public InvalidArgumentException(String message, Throwable cause) {
        super(message, cause);
    }
}
