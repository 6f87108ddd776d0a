package org.dmashare;

/**
 * A map would overwrite a valid translation, an unmap would cut a mapping, or a requested fixed IOVA range is already in use.
 */
public class MappingConflictException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was asked, what was found and what would be accepted
     */
    public MappingConflictException(String message) {
        super(message);
    }

    /**
     * Creates the exception with a cause.
     *
     * @param message what was asked, what was found and what would be accepted
     * @param cause the failure that led to this one
     */
    public MappingConflictException(String message, Throwable cause) {
        super(message, cause);
    }
}
