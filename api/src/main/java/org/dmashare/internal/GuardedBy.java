package org.dmashare.internal;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Names the lock that must be held to read or write the annotated field, or to call the annotated
 * method. Documentation for readers and reviewers, in the vocabulary of JCIP's and Error Prone's
 * annotation of the same name: {@code "this"} is the monitor of the object that declares the
 * field, {@code "Class.this"} the monitor of an enclosing instance, a field (or a method
 * returning the lock) of the declaring class, such as {@code "faults"}, and a bare class name
 * such as {@code "DartIommu"} the monitor of the instance of that class that owns this object (a
 * helper its owner calls only with that lock held).
 *
 * <p>Kept in class files only ({@link RetentionPolicy#CLASS}): nothing reads it at run time, so
 * using it adds no run-time dependency. Which locks exist and in which order they may nest is
 * written in each package's {@code package-info}.
 */
@Documented
@Retention(RetentionPolicy.CLASS)
@Target({ElementType.FIELD, ElementType.METHOD})
public @interface GuardedBy {
    /**
     * The lock: {@code "this"}, the name of the field or method that gives it, or the owning
     * class.
     *
     * @return the lock's name
     */
    String value();
}
