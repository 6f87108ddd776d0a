package org.dmashare;

/**
 * No free IOVA range of the requested size and alignment exists in a domain's aperture.
 */
public class IovaSpaceExhaustedException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public IovaSpaceExhaustedException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public IovaSpaceExhaustedException(String message, Throwable cause) {
        super(message, cause);
    }
}
