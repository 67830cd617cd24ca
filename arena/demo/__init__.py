"""The bundled demo set: rendered scenes and shapes, edited by the classical editors."""
