package org.dmashare;

/**
 * The object (buffer, domain, IOMMU) was used after it was closed.
 */
public class ObjectClosedException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public ObjectClosedException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public ObjectClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
